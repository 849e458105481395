#!/usr/bin/env bash
# Builds helm once from the Go module proxy (the version pinned in go.mod, every
# dependency checked against go.sum) and caches it by the hash of go.mod, go.sum
# and this script. Last stdout line: the absolute path of the binary.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
#
# Tests render and install the chart with it; a cold build takes a minute or two.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${POSTMASTER_CACHE:-$repo/.cache}"

export GOTOOLCHAIN=local

if ! command -v go >/dev/null 2>&1; then
  echo "helm/build.sh: go is not installed" >&2
  exit 1
fi

key="$(cd "$here" && for f in go.mod go.sum build.sh; do printf '== %s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16)"
mkdir -p "$cache/helm/$key"
dir="$(cd "$cache/helm/$key" && pwd)"
bin="$dir/helm"

if [ -x "$bin" ]; then
  echo "helm/build.sh: cached $bin" >&2
  echo "$bin"
  exit 0
fi

tmp="$dir/helm.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Stamp what helm's own Makefile stamps: its version, and the Kubernetes version
# it assumes offline (helm template, lint), taken from the client-go it links.
hver="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/go.mod")"
cgo="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$here/go.mod")"
kminor="${cgo#v0.}"; kminor="${kminor%%.*}"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$hver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
done

echo "helm/build.sh: building helm $hver ($key)" >&2
start=$(date +%s)
(cd "$here" && go build -buildvcs=false -trimpath -ldflags "$ldflags" -o "$tmp" helm.sh/helm/v3/cmd/helm) >&2
mv -f "$tmp" "$bin"
echo "helm/build.sh: built in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
