#!/usr/bin/env bash
# The main job: installs what it needs, builds routerd and routerd-tool, and runs the
# four-site SAM gate (`routerd-tool demo`): an RR and four leaves (one behind NAT) with a
# client behind each, all from signed config blobs. With QEMU installed (tools/setup.sh
# installs it) it also builds the static routerd for the guests' image, so the gate runs
# as the qemu flavour (every router a guest of the pve-x86_64 image); without, as netns. It prints the 12-pair client matrix,
# every assertion with its evidence and the summary, keeps the evidence in the run
# directory and removes everything else it created. Exit 0 only when every assertion holds.
#
# Usage (as root): tools/demo.sh [routerd-tool demo options, e.g. --flavour netns --json]
# The previous demo (routerd reflecting for BIRD, FRR and GoBGP) is tools/demo-interop.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
echo "== building routerd and routerd-tool"
cargo build --quiet --bin routerd --bin routerd-tool
if command -v qemu-system-x86_64 >/dev/null; then
  echo "== building the static routerd for the guests' image (x86_64-unknown-linux-musl, release)"
  cargo build --quiet --release -p routerd --target x86_64-unknown-linux-musl ||
    echo "demo: the static routerd did not build; the gate falls back to the netns flavour" >&2
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
exec "$target_dir/debug/routerd-tool" demo "$@"
