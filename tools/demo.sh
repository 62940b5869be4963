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
# build_with_progress and the builds' GOGC/GOMEMLIMIT (build_env).
# shellcheck source=lib.sh
source "$root/tools/lib.sh"

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
tools/kube-apiserver/build.sh kube-apiserver
tools/rie/build.sh
echo "  ready after $((SECONDS - start))s"
exec "$cli" demo "$@"
