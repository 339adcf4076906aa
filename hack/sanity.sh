#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/kubedebug/lab:
# copy the tracked (and untracked, not ignored) files there and run it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
dest=$(mktemp -d /tmp/kubedebug-sanity.XXXXXX)
trap 'rm -rf "$dest"' EXIT
tree="$dest/ansible_collections/kubedebug/lab"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$tree/"
cd "$tree"
# ansible-test lists files with git when it finds a repository; give it one.
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
ansible-test sanity --python 3.11 --local --color no "$@"
