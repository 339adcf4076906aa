module kubedebug.lab/argvprint

go 1.19
