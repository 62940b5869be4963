#!/usr/bin/env bash
# Builds kube-apiserver (and kubectl, the drain benchmark's baseline) from the
# Go module proxy into a cache directory, once. The build takes ~6 minutes and
# ~2.8 GB cold, so it is skipped when the cached binaries were built from the
# same go.mod/go.sum with the same flags and Go version (a stamp file holds
# their hash). A cold build prints a progress line every 20 s.
#
# Usage: tools/kube-apiserver/build.sh [kube-apiserver|kubectl|all]   (default: all)
# Output: ${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}/bin/{kube-apiserver,kubectl}
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
cache="${CPWARDEN_CACHE:-$HOME/.cache/cpwarden}"
bindir="$cache/bin"
what="${1:-all}"

case "$what" in
  kube-apiserver) tools=(kube-apiserver) ;;
  kubectl) tools=(kubectl) ;;
  all) tools=(kube-apiserver kubectl) ;;
  *) echo "usage: $0 [kube-apiserver|kubectl|all]" >&2; exit 2 ;;
esac

mkdir -p "$bindir"

# Without these the binaries report v0.0.0-master, which API version checks
# and the server's emulation version would see instead of the real release.
k8s_version="$(sed -n 's/^require k8s.io\/kubernetes \(v[0-9.]*\)$/\1/p' "$here/go.mod")"
if [[ -z "$k8s_version" ]]; then
  echo "cannot read the k8s.io/kubernetes version from $here/go.mod" >&2
  exit 1
fi
major="${k8s_version#v}"; major="${major%%.*}"
minor="${k8s_version#v*.}"; minor="${minor%%.*}"
# -s -w: no symbol table or DWARF (a test server, never debugged here), a
# shorter link.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
# -trimpath and no VCS stamping keep the build reproducible across clones.
go_env=(CGO_ENABLED=0 GOFLAGS=-buildvcs=false)
go_flags=(-trimpath -ldflags "$ldflags")

# The stamp covers what the binaries are built from: the module files, the
# build's environment and flags, and the Go version. (Not this script as a
# whole: changing what it prints does not change the binaries.)
stamp_value="$({ cat "$here/go.mod" "$here/go.sum"; printf '%s\n' "${go_env[@]}" "${go_flags[@]}"; } | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"

for tool in "${tools[@]}"; do
  bin="$bindir/$tool"
  stamp="$bin.stamp"
  if [[ -x "$bin" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_value" ]]; then
    echo "$tool: up to date at $bin"
    continue
  fi
  echo "$tool: building k8s.io/kubernetes/cmd/$tool into $bin (several minutes when cold)"
  start=$SECONDS
  # (go list also downloads the modules the build needs.)
  total="$(cd "$here" && env "${go_env[@]}" go list -deps "k8s.io/kubernetes/cmd/$tool" | wc -l)"
  # Building to a temporary name and renaming means an interrupted build
  # never leaves a half-written binary that looks current.
  if ! (cd "$here" && build_with_progress "$tool" "$total" env "${build_env[@]}" "${go_env[@]}" go build -v "${go_flags[@]}" -o "$bin.tmp" "k8s.io/kubernetes/cmd/$tool"); then
    echo "$tool: build failed" >&2
    exit 1
  fi
  mv -f "$bin.tmp" "$bin"
  printf '%s' "$stamp_value" >"$stamp"
  echo "$tool: built in $((SECONDS - start))s"
done
