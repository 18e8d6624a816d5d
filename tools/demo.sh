#!/usr/bin/env bash
# The main job: installs what it needs, builds routerd and runs the demo topology in
# network namespaces on built-in defaults. Exits 0 only when every check of the demo holds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec bash tools/demo-interop.sh "$@"
