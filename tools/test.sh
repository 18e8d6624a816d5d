#!/usr/bin/env bash
# Runs routerd's whole test suite on this machine (as root): installs what it needs, then
# formatting, lints, unit/property/scenario tests, system tests (network namespaces with
# BIRD/FRR/GoBGP, QEMU guests) and a time-boxed fuzz run.
#
# Usage: tools/test.sh            everything
#        FUZZ_SECONDS=0 tools/test.sh   skip the fuzz run
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

step "setup"
bash tools/setup.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
# System tests create network namespaces and start real daemons and QEMU guests; they
# clean up after themselves and use unique names, so targets may run in parallel.
cargo test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt
if grep -q '^test result: FAILED' target/test-output.txt; then
  echo "tests: failures above" >&2
  exit 1
fi

if [ "${FUZZ_SECONDS:-20}" != 0 ] && [ -x tests/fuzz/run.sh ]; then
  step "fuzz (${FUZZ_SECONDS:-20} s per target)"
  bash tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"
fi
step "done"
