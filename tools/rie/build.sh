#!/usr/bin/env bash
# Installs the AWS Lambda Runtime Interface Emulator (aws-lambda-rie) from the
# Go module proxy into a cache directory, once. The sandbox and the bootstrap's
# tests run the Lambda binary under it, as Lambda's provided.al2023 runtime does.
#
# The binary is reinstalled only when the one in the cache was built from a
# different module version (read back with `go version -m`), so the script is
# cheap to call from every `make tools`.
#
# Usage: tools/rie/build.sh
# Output: ${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}/bin/aws-lambda-rie
set -euo pipefail
# shellcheck source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

module="github.com/aws/aws-lambda-runtime-interface-emulator"
version="v0.0.0-20261030222936-bef5c4ba774d"
cache="${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}"
bindir="$cache/bin"
bin="$bindir/aws-lambda-rie"

mkdir -p "$bindir"
if [[ -x "$bin" ]] && go version -m "$bin" 2>/dev/null | awk '$1 == "mod" {print $2, $3}' | grep -qx "$module $version"; then
  echo "aws-lambda-rie: up to date at $bin"
  exit 0
fi

echo "aws-lambda-rie: installing $module/cmd/aws-lambda-rie@$version into $bin (seconds; longer on a cold module cache)"
start=$SECONDS
# Install into a temporary directory and rename, so an interrupted install
# never leaves a half-written binary that looks current. CGO_ENABLED=0 makes it
# static, like the release binaries AWS publishes.
tmp="$(mktemp -d "$bindir/.rie.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
if ! build_with_progress aws-lambda-rie "" env "${build_env[@]}" CGO_ENABLED=0 GOBIN="$tmp" go install -v -trimpath "$module/cmd/aws-lambda-rie@$version"; then
  echo "aws-lambda-rie: install failed" >&2
  exit 1
fi
mv -f "$tmp/aws-lambda-rie" "$bin"
echo "aws-lambda-rie: installed in $((SECONDS - start))s"
