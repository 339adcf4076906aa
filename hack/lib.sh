# Shared shell helpers for hack/*.sh. Sourced, not run.
# shellcheck shell=bash
: "${KUBEDEBUG_VENV:=${HOME}/.cache/kubedebug/venv}"
: "${KUBEDEBUG_CACHE:=/var/cache/kubedebug}"
export KUBEDEBUG_VENV KUBEDEBUG_CACHE
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REPO_ROOT
# The collection is used from a tree that Ansible can import as
# ansible_collections.kubedebug.lab: a symlink to the repo under .build/.
KUBEDEBUG_COLLECTIONS="$REPO_ROOT/.build/collections"
export ANSIBLE_COLLECTIONS_PATH="$KUBEDEBUG_COLLECTIONS"
export PATH="$KUBEDEBUG_VENV/bin:$PATH"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

collection_link() {
  mkdir -p "$KUBEDEBUG_COLLECTIONS/ansible_collections/kubedebug"
  ln -sfn "$REPO_ROOT" "$KUBEDEBUG_COLLECTIONS/ansible_collections/kubedebug/lab"
}
