#!/usr/bin/env bash
# Builds every cargo-fuzz target of this crate with nightly and runs each for SECONDS,
# starting from the checked-in seeds in corpus/<target>/ (new inputs go to a scratch
# directory, so the checked-in corpus only changes by hand). A crash stops the run with
# a non-zero exit; its input is left in artifacts/<target>/.
#
# Usage: tests/fuzz/run.sh SECONDS
set -euo pipefail

seconds="${1:?usage: tests/fuzz/run.sh SECONDS}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "run.sh: the nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi

cargo +nightly fuzz build -O
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

targets=$(cargo +nightly fuzz list)
ran=0
for target in $targets; do
    mkdir -p "$scratch/$target" "corpus/$target"
    echo "== fuzzing $target for ${seconds}s"
    cargo +nightly fuzz run -O "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4200 -rss_limit_mb=2048 -print_final_stats=1
    ran=$((ran + 1))
done
echo "fuzz: $ran targets ran ${seconds}s each without a crash"
