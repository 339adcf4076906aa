#!/usr/bin/env bash
# `make lab`: the local debug lab on this machine, against the default `local`
# inventory. Extra arguments go to ansible-playbook (-v, --check, -e ...).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
collection_link
exec ansible-playbook playbooks/lab-local.yml "$@"
