#!/usr/bin/env bash
# make test / make bench: run the Go checks against a fresh, throwaway Postgres + Redis.
#
#   scripts/test.sh test    go vet, gofmt check, go test -race -count=1 ./...; with CI set, scripts/fuzz.sh 20000x
#   scripts/test.sh bench   go test -run '^$' -bench . -benchmem ./... (BENCHCOUNT runs each, default 1), then one
#                           table of the figures (scripts/benchtable), also written to bench/results/<date>-<sha>.json
#                           and bench/results/latest.json
#
# The services live in a temp dir that is stopped and removed on any exit; tests find
# them through TEST_DATABASE_URL and TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
case $mode in test | bench) ;; *) echo "usage: $0 [test|bench]" >&2; exit 2 ;; esac

if [ "$mode" = test ]; then
  # Static checks first: they need no services, so fail fast.
  echo "+ go vet ./..." >&2
  go vet ./...
  echo "+ gofmt -l ." >&2
  unformatted=$(gofmt -l .)
  if [ -n "$unformatted" ]; then
    printf 'gofmt needed on:\n%s\n' "$unformatted" >&2
    exit 1
  fi
  # -race needs cgo and a C compiler.
  if ! command -v "${CC:-gcc}" >/dev/null 2>&1 && ! command -v cc >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev; } >&2
    else
      echo "go test -race needs a C compiler: run \`sudo apt-get install gcc\` and try again" >&2
      exit 1
    fi
  fi
fi

# The web chat is tested in a real headless Chromium (Debian's package).
if [ "$mode" = test ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "+ apt-get install chromium (for the browser tests)" >&2
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; } >&2 ||
      echo "could not install chromium: the browser tests will skip, and fail under CI" >&2
  else
    echo "chromium is not installed: the browser tests will skip; install it with \`sudo apt-get install chromium\`" >&2
  fi
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/tinbao-$mode.XXXXXX")
cleanup() { bash scripts/services.sh down "$dir" || true; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash scripts/services.sh up "$dir" >/dev/null
TEST_DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' "$dir/env")
TEST_REDIS_URL=$(sed -n 's/^REDIS_URL=//p' "$dir/env")
export TEST_DATABASE_URL TEST_REDIS_URL
if [ "$mode" = test ]; then
  # A 3-master Redis Cluster, for the test that runs the session code on one.
  bash scripts/services.sh cluster-up "$dir" >/dev/null
  TEST_REDIS_CLUSTER_URL=$(sed -n 's/^REDIS_CLUSTER_URL=//p' "$dir/cluster/env")
  export TEST_REDIS_CLUSTER_URL
fi
echo "services: TEST_DATABASE_URL=$TEST_DATABASE_URL TEST_REDIS_URL=$TEST_REDIS_URL" >&2

if [ "$mode" = test ]; then
  echo "+ go test -race -count=1 ./..." >&2
  CGO_ENABLED=1 go test -race -count=1 ./...
  if [ -n "${CI:-}" ]; then
    echo "+ scripts/fuzz.sh 20000x (every fuzz target, 20,000 inputs each)" >&2
    bash scripts/fuzz.sh 20000x
  fi
else
  count=${BENCHCOUNT:-1}
  echo "+ go test -run '^\$' -bench . -benchmem -count $count ./..." >&2
  status=0
  go test -run '^$' -bench . -benchmem -count "$count" ./... | tee "$dir/bench.txt" || status=$?
  sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  mkdir -p bench/results
  out="bench/results/$(date -u +%Y-%m-%d)-$sha.json"
  go run ./scripts/benchtable -commit "$sha" -json "$out" <"$dir/bench.txt" 2>/dev/null
  cp "$out" bench/results/latest.json
  echo "table written to $out and bench/results/latest.json" >&2
  exit "$status"
fi
