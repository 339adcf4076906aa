#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/kubedebug/lab:
# copy the tracked (and untracked, not ignored) files there and run it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

# ansible-test bootstraps pip in its venvs with a get-pip script from a host
# these machines cannot reach. Give it a stand-in with the same contract that
# uses the interpreter's bundled ensurepip, then pip-installs from PyPI.
pip_version=$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
shim="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -f "$shim" ]]; then
  mkdir -p "$(dirname "$shim")"
  cat >"$shim" <<'PY'
"""Stand-in for get-pip.py: ensurepip, then pip install the requested packages."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)
PY
fi

dest=$(mktemp -d /tmp/kubedebug-sanity.XXXXXX)
trap 'rm -rf "$dest"' EXIT
tree="$dest/ansible_collections/kubedebug/lab"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ "$tree/"
cd "$tree"
# ansible-test lists files with git when it finds a repository; give it one.
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
ansible-test sanity --python 3.11 --local --color no "$@"
