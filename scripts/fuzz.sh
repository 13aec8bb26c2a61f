#!/usr/bin/env bash
# A short run of every fuzz target (make fuzz; scripts/test.sh runs it under CI).
#
#   scripts/fuzz.sh [budget per target: seconds (default 3) or a count like 20000x]
#
# go test -fuzz takes one target per package per run, so each is run alone.
# A failing input is written to <package>/testdata/fuzz/FuzzXxx/: commit it
# with the fix, and it runs as a regression case in every go test.
#
# Go 1.26's fuzz coordinator can end a timed run with a bare "context deadline
# exceeded" and no failing input (golang/go#75804, fixed in Go 1.27). CI
# therefore gives a count of executions, which has no deadline to race; a timed
# run that ends that way without writing an input is reported, not failed.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-3}
case $budget in
  *x) ;;
  *) budget=${budget}s ;;
esac
# count prints how many inputs a corpus directory holds (0 when there is none).
count() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
  pkg=./$(dirname "${file#./}")
  for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file"); do
    corpus=$pkg/testdata/fuzz/$target
    before=$(count "$corpus")
    echo "+ go test -run '^\$' -fuzz '^$target\$' -fuzztime $budget $pkg" >&2
    if go test -run '^$' -fuzz "^$target\$" -fuzztime "$budget" "$pkg" 2>&1 | tee "$out"; then
      continue
    fi
    after=$(count "$corpus")
    if [ "$after" = "$before" ] && grep -q '^    context deadline exceeded$' "$out" &&
      [ "$(grep -c -- '--- FAIL' "$out")" = 1 ]; then
      echo "fuzz: $target stopped on Go's fuzztime race (golang/go#75804), no failing input; not a failure" >&2
      continue
    fi
    echo "fuzz: $target FAILED; a failing input, if any, is in $corpus" >&2
    exit 1
  done
done
