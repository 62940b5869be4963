#!/usr/bin/env bash
# What `make demo` runs: builds what the demo needs, once per machine, then
# runs `cpwarden demo` (extra arguments are passed on to it).
#
# Everything is built with the flags of the Lambda binary (CGO_ENABLED=0,
# -trimpath), and kube-apiserver's tool module pins the versions cpwarden
# compiles, so the CLI, the bootstrap and kube-apiserver share one build
# cache: each package they have in common (client-go, the etcd client,
# gRPC, x/net, ...) is compiled once. The CLI is built with -tags nocfn: the
# demo deploys nothing, and leaving out goformation's CloudFormation
# resource types (about 250 packages) saves half a minute of a first build.
# On a fresh 2-core machine the builds take about 8 minutes; afterwards the
# demo starts at once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}"
cli="$cache/bin/cpwarden"
cd "$root"
mkdir -p "$cache/bin"

# go build prints a package's name as it compiles it (-v); a line every 20 s
# says how far it got, so a first build is not a silent five minutes.
build_with_progress() {
  local what="$1" total="$2"; shift 2
  local start=$SECONDS next=20 log status=0
  log="$(mktemp)"
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (( SECONDS - start >= next )); then
      next=$((next + 20))
      echo "  … $what: $(grep -cv ':' "$log") of at most $total packages compiled ($((SECONDS - start))s)"
    fi
  done
  wait "$pid" || status=$?
  # Compiler messages (file:line: ...) and their "# package" headers.
  grep -E '^#|:' "$log" | sed 's/^/  | /' || true
  rm -f "$log"
  return "$status"
}

# The compiler allocates heavily: collecting garbage an eighth as often cuts
# the CPU time of a first build by about a quarter (client-go, the S3 and
# etcd clients from scratch: 141 s at the default GOGC=100, 119 s at 400,
# 105 s at 800). The soft limit keeps the largest compile (the EC2 client,
# 3.2 GB at the default, 6 GB at 800 unbounded) near 4 GiB. Only the
# builds get these settings; set GOGC/GOMEMLIMIT to override them.
build_env=(GOGC="${GOGC:-800}" GOMEMLIMIT="${GOMEMLIMIT:-4GiB}")

echo "cpwarden demo: building what it needs (the first time on a machine: several minutes; then seconds)"
start=$SECONDS
# (go list also downloads the modules the build needs.)
total="$(CGO_ENABLED=0 go list -tags nocfn -deps ./cmd/cpwarden | wc -l)"
if ! build_with_progress "cpwarden" "$total" env "${build_env[@]}" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -v -trimpath -tags nocfn -ldflags='-s -w' -o "$cli.tmp" ./cmd/cpwarden; then
  echo "cpwarden: build failed" >&2
  exit 1
fi
mv -f "$cli.tmp" "$cli"
echo "  cpwarden built ($((SECONDS - start))s)"
env "${build_env[@]}" tools/kube-apiserver/build.sh kube-apiserver
env "${build_env[@]}" tools/rie/build.sh
echo "  ready after $((SECONDS - start))s"
exec "$cli" demo "$@"
