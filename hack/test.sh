#!/usr/bin/env bash
# Every test of the collection, in stages. `hack/test.sh all` is what CI runs.
#   hack/test.sh [all|lint|unit|sanity|integration|molecule] ...
# MOLECULE_SCENARIOS="a b" limits the Molecule stage to those scenarios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
collection_link
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

failures=()
stage() {  # stage NAME CMD...: run, time, record failure, keep going
  local name=$1; shift
  local t0=$SECONDS
  log "==> $name"
  if "$@"; then
    log "<== $name ok ($((SECONDS - t0)) s)"
  else
    log "<== $name FAILED ($((SECONDS - t0)) s)"
    failures+=("$name")
  fi
}

pytest_dir() {  # pytest exits 5 when it collects nothing: that is a failure here too
  python -m pytest "$@"
}

do_lint() {
  stage ruff ruff check plugins tests hack
  # ansible-lint installs the collection under test into ~/.ansible/collections;
  # a HOME of this checkout's own keeps parallel checkouts from overwriting it.
  mkdir -p "$REPO_ROOT/.build/home"
  stage ansible-lint env HOME="$REPO_ROOT/.build/home" ansible-lint --profile production --offline
}

do_unit() {
  stage pytest-unit pytest_dir -q tests/unit
}

do_sanity() {
  stage ansible-test-sanity "$REPO_ROOT/hack/sanity.sh"
}

do_integration() {
  # the slowest tests are printed: the stage is most of the cold CI time (docs/development.md)
  stage pytest-integration pytest_dir -q -x --durations=15 tests/integration
}

do_molecule() {
  "$REPO_ROOT/hack/dockerd.sh"
  "$REPO_ROOT/hack/systemd-image.sh"
  local scenarios=${MOLECULE_SCENARIOS:-}
  if [[ -z "$scenarios" ]]; then
    scenarios=$(for f in molecule/*/molecule.yml; do [[ -e $f ]] && basename "$(dirname "$f")"; done | sort)
  fi
  for s in $scenarios; do
    # The inventory scenario runs against users' own VMs: CI only syntax-checks it.
    if [[ -f "molecule/$s/.ci-syntax-only" ]]; then
      stage "molecule-$s-syntax" molecule syntax -s "$s"
    else
      stage "molecule-$s" molecule test -s "$s"
    fi
  done
}

stages=("$@")
[[ ${#stages[@]} -eq 0 || "${stages[0]}" == all ]] && stages=(lint unit sanity integration molecule)
# A lab made by `make lab` on this machine is the user's: the stages that touch
# the host must leave its debug session as they found it (hack/lab_guard.py).
guard=""
if [[ " ${stages[*]} " == *" integration "* || " ${stages[*]} " == *" molecule "* ]]; then
  guard="$REPO_ROOT/.build/lab-guard.json"
  mkdir -p "$REPO_ROOT/.build"
  python "$REPO_ROOT/hack/lab_guard.py" snapshot "$guard"
fi
for s in "${stages[@]}"; do
  case "$s" in
    lint|unit|sanity|integration|molecule) "do_$s" ;;
    *) echo "unknown stage $s" >&2; exit 2 ;;
  esac
done

[[ -n "$guard" ]] && stage lab-untouched python "$REPO_ROOT/hack/lab_guard.py" verify "$guard"

if ((${#failures[@]})); then
  log "FAILED stages: ${failures[*]}"
  exit 1
fi
log "all stages passed"
