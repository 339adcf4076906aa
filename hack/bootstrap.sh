#!/usr/bin/env bash
# Install everything the lab and the tests need on a Debian 12 machine, idempotently.
#   hack/bootstrap.sh            host packages + Python venv
#   hack/bootstrap.sh venv       Python venv only
# The venv lives outside the clone (shared by clones and worktrees), keyed by the
# hash of requirements.txt + constraints.txt, so a changed pin makes a new one.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"

apt_packages=(
  # toolchain and debugger the lab uses (Debian's, see ../shared/ENVIRONMENT.md)
  golang-go delve etcd-server etcd-client golang-cfssl openssl
  # container engine for Molecule, image building, binary inspection
  docker.io debootstrap binutils file jq curl rsync git make shellcheck
  # cgo components (kubelet) and the DWARF 5 test binary of tests/unit/plugins/module_utils/_build/test_debuginfo.py
  gcc libc6-dev
  # replacement for the reflect2 1.0.1 vendored by Kubernetes 1.20 (crashes under Go >= 1.18)
  golang-github-modern-go-reflect2-dev
  # systemd tooling on the host (systemd-escape, unit parsing in tests)
  systemd
  # Go libraries Delve's source needs: hack/install_fixtures.py vendors them into
  # the release-shaped delve tarball the install tests build offline
  golang-github-cosiner-argv-dev golang-github-derekparker-trie-dev golang-github-go-delve-liner-dev
  golang-github-google-go-dap-dev golang-github-hashicorp-golang-lru-dev golang-github-mattn-go-isatty-dev
  golang-github-mattn-go-colorable-dev golang-github-sirupsen-logrus-dev golang-github-spf13-cobra-dev
  golang-golang-x-arch-dev golang-golang-x-sys-dev golang-gopkg-yaml.v2-dev golang-starlark-dev
)

# `apt-get source` (Kubernetes, Delve sources) needs deb-src entries: the
# first stanza of debian.sources with Types: deb-src.
deb_src() {
  local src=/etc/apt/sources.list.d/debian.sources dst=/etc/apt/sources.list.d/debian-src.sources
  [[ -f $dst || ! -f $src ]] && return 0
  grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && return 0
  log "apt: adding deb-src entries ($dst)"
  awk 'BEGIN{RS=""; ORS="\n"} NR==1{sub(/Types: deb/, "Types: deb-src"); print; exit}' "$src" >"$dst"
  apt-get update -qq
}

host_packages() {
  local missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

venv() {
  local stamp_want
  stamp_want=$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -c1-16)
  mkdir -p "$(dirname "$KUBEDEBUG_VENV")"
  exec 9>"$KUBEDEBUG_VENV.lock"
  flock 9
  if [[ -f "$KUBEDEBUG_VENV/.stamp" && "$(cat "$KUBEDEBUG_VENV/.stamp")" == "$stamp_want" ]]; then
    return 0
  fi
  log "venv: creating $KUBEDEBUG_VENV"
  rm -rf "$KUBEDEBUG_VENV"
  python3 -m venv "$KUBEDEBUG_VENV"
  "$KUBEDEBUG_VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$KUBEDEBUG_VENV/bin/pip" install -q -r "$here/requirements.txt" -c "$here/constraints.txt" 2> >(grep -v "^WARNING: Location" >&2)
  echo "$stamp_want" > "$KUBEDEBUG_VENV/.stamp"
  exec 9>&-
}

case "${1:-all}" in
  all) host_packages; deb_src; venv ;;
  venv) venv ;;
  host) host_packages; deb_src ;;
  *) echo "usage: $0 [all|venv|host]" >&2; exit 2 ;;
esac
