#!/usr/bin/env bash
# Runs dStore's tests and prints one closing line "N passed, N failed".
#   run-tests.sh [unit|replay|e2e|bench]...   (default: all four)
# unit:   every build/tests/test_* program (each prints "N passed, N failed")
# replay: every fuzz driver over its corpus in fuzz/corpus/<name>/
# e2e:    the Python end-to-end tests (real server binaries, real boto3),
#         run by Debian's interpreter /usr/bin/python3
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(unit replay e2e bench)
pass=0 fail=0

count() { # $1 = output file; adds its last "N passed, N failed" line
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  if [ -z "$line" ]; then fail=$((fail + 1)); return; fi
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  pass=$((pass + p)) fail=$((fail + f))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for part in "${parts[@]}"; do
  case $part in
  unit)
    for t in "$BUILD"/tests/test_*; do
      [ -x "$t" ] || continue
      echo "== $(basename "$t")"
      "$t" >"$tmp/out" 2>&1; rc=$?
      grep -v ': ok$' "$tmp/out"
      count "$tmp/out"
      [ $rc -eq 0 ] || grep -q 'FAILED' "$tmp/out" || fail=$((fail + 1))
    done ;;
  replay)
    for r in "$BUILD"/replay/fuzz_*; do
      [ -x "$r" ] || continue
      name=$(basename "$r"); name=${name#fuzz_}
      echo "== replay $name"
      "$r" "fuzz/corpus/$name" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail=$((fail + 1)); continue; }
      cat "$tmp/out"
      count "$tmp/out"
    done ;;
  e2e)
    echo "== e2e (pytest)"
    DSTORE_BIN="$PWD/$BUILD/dstore" /usr/bin/python3 -m pytest -q -p no:cacheprovider \
      tests/e2e >"$tmp/out" 2>&1; rc=$?
    cat "$tmp/out"
    line=$(grep -E '[0-9]+ (passed|failed)' "$tmp/out" | tail -n 1)
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || echo 0)
    pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0} + ${e:-0}))
    # exit 5 = no tests collected: that is a failure, not a pass
    if [ $rc -ne 0 ] && [ "${f:-0}" = 0 ] && [ "${e:-0}" = 0 ]; then fail=$((fail + 1)); fi ;;
  bench) echo "== bench (quick)"; DSTORE_BIN="$PWD/$BUILD/dstore" /usr/bin/python3 bench/run.py --quick --check >"$tmp/out" 2>&1; grep -v '^\[' "$tmp/out"; count "$tmp/out" ;;
  *) echo "run-tests: unknown part $part" >&2; exit 2 ;;
  esac
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
