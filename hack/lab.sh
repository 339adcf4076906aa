#!/usr/bin/env bash
# `make lab`: the local debug lab on this machine. Each step is a playbook run
# against the default `local` inventory; the parts later issues build say so.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
collection_link
for pb in playbooks/lab-local.yml; do
  if [[ -f "$pb" ]]; then
    ansible-playbook "$pb" "$@"
  fi
done
