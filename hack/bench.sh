#!/usr/bin/env bash
# `make bench`: run every benchmark under tests/bench/ and print its figures.
# Benchmarks print numbers and ratios; they never assert on time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
collection_link
shopt -s nullglob
for b in tests/bench/bench_*; do
  [[ -n "${BENCH:-}" && "$b" != *"$BENCH"* ]] && continue
  log "==> $b"
  case "$b" in
    *.py) python "$b" ;;
    *) "$b" ;;
  esac
done
