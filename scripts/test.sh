#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine or an existing checkout:
# installs dependencies, builds, runs every test in a normal build and again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and (with clang)
# runs each libFuzzer harness briefly. Exits non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

summary() { # build dir -> adds its results to the totals
  python3 - "$1" <<'PY'
import json, sys
ok = bad = skip = 0
with open(sys.argv[1] + "/meson-logs/testlog.json") as f:
    for line in f:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): ok += 1
        elif r == "SKIP": skip += 1
        else: bad += 1
print(ok, bad, skip)
PY
}

run_suite() { # name, build dir, meson options...
  local name=$1 dir=$2; shift 2
  echo "== $name"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
  local rc=0
  meson test -C "$dir" --print-errorlogs --num-processes 2 || rc=$?
  read -r ok bad skip < <(summary "$dir")
  total_ok=$((total_ok + ok)); total_bad=$((total_bad + bad)); total_skip=$((total_skip + skip))
  [ "$rc" -eq 0 ] || failed=1
}

total_ok=0 total_bad=0 total_skip=0 failed=0
run_suite "tests" build
# The optimised build compiles too: -O3 lets GCC see more (format
# truncation, for one) and every warning is an error. Benchmarks run from it.
echo "== release build (compile only)"
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --buildtype=release -Dtests=false >/dev/null
fi
if out=$(ninja -C build-release 2>&1); then
  total_ok=$((total_ok + 1))
else
  echo "$out" | tail -40; echo "release build: FAILED"
  total_bad=$((total_bad + 1)); failed=1
fi
run_suite "tests under ASan+UBSan" build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false

if command -v clang >/dev/null && [ "${SECMSG_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== libFuzzer smoke runs"
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Dtests=false -Dbench=false \
      -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  fi
  ninja -C build-fuzz >/dev/null
  for f in build-fuzz/fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    name=${f##*/fuzz_}
    work=$(mktemp -d)
    if "$f" -max_total_time="${SECMSG_FUZZ_SECONDS:-15}" -max_len=4096 "$work" \
         "fuzz/corpus/$name" >"$work.log" 2>&1; then
      echo "fuzz $name: $(grep -o 'Done [0-9]* runs' "$work.log" || echo ok)"
      total_ok=$((total_ok + 1))
    else
      echo "fuzz $name: FAILED"; tail -40 "$work.log"
      total_bad=$((total_bad + 1)); failed=1
    fi
    rm -rf "$work" "$work.log"
  done
fi

echo "$total_ok passed, $total_bad failed, $total_skip skipped"
exit "$failed"
