#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs the end-to-end
# example (two parties set up a session and talk).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec ./build/examples/c/two-parties
