#!/usr/bin/env bash
# The main job: installs dependencies, builds, then runs the system end to
# end on this machine (scripts/demo.sh): a relay on 127.0.0.1 with its
# embedded sqlcipher store, a caseworker enrolled with an admin token and a
# root certificate, a citizen enrolled by redeeming the caseworker's invite,
# messages both ways, and the conversation printed from both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
exec bash scripts/demo.sh build
