// argvprint stands in for a Kubernetes component in tests: it records the exact
// argv it received (NUL-terminated, like /proc/PID/cmdline) to $ARGVPRINT_OUT,
// then serves until killed, so it can be found, read, and relaunched under dlv.
// Built with -gcflags='all=-N -l' it is fully debuggable.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is what --version reports; tests build other versions with
// -ldflags "-X main.version=v1.21.0".
var version = "v1.20.2"

//go:noinline
func record(path string, args []string) error {
	var b []byte
	for _, a := range args {
		b = append(b, a...)
		b = append(b, 0)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

//go:noinline
func tick(n int) int {
	return n + 1
}

func main() {
	// Like the Kubernetes components: --version prints the version and exits.
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println("Kubernetes " + version)
		return
	}
	if out := os.Getenv("ARGVPRINT_OUT"); out != "" {
		if err := record(out, os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "argvprint:", err)
			os.Exit(1)
		}
	}
	if os.Getenv("ARGVPRINT_EXIT") != "" {
		return
	}
	// ARGVPRINT_LISTEN=host:port: listen there, as a component serves its port (exit 1 when taken).
	// ARGVPRINT_LINGER=duration: on SIGTERM close the listener first, then take that long to exit,
	// as an apiserver's graceful shutdown does.
	var ln net.Listener
	if addr := os.Getenv("ARGVPRINT_LISTEN"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "argvprint:", err)
			os.Exit(1)
		}
		ln = l
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	n := 0
	t := time.NewTicker(200 * time.Millisecond)
	for {
		select {
		case <-sig:
			if ln != nil {
				ln.Close()
			}
			if d, err := time.ParseDuration(os.Getenv("ARGVPRINT_LINGER")); err == nil {
				time.Sleep(d)
			}
			return
		case <-t.C:
			n = tick(n)
		}
	}
}
