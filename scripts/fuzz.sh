#!/usr/bin/env bash
# A short run of every fuzz target (make fuzz; scripts/test.sh runs it under CI).
#
#   scripts/fuzz.sh [seconds per target, default 3]
#
# go test -fuzz takes one target per package per run, so each is run alone.
# A failing input is written to <package>/testdata/fuzz/FuzzXxx/: commit it
# with the fix, and it runs as a regression case in every go test.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-3}s
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    echo "+ go test -run '^\$' -fuzz '^$target\$' -fuzztime $t $pkg" >&2
    go test -run '^$' -fuzz "^$target\$" -fuzztime "$t" "$pkg"
  done
done
