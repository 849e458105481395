#!/usr/bin/env bash
# Builds postmaster-apiserver once and caches it by the hash of its sources.
# Last stdout line: the absolute path of the binary. Progress goes to stderr.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
#
# A cold build compiles kube-apiserver, kube-controller-manager and etcd from
# Go modules: expect several minutes on 2 cores. Later calls are instant.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${POSTMASTER_CACHE:-$repo/.cache}"

export GOTOOLCHAIN=local

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: go is not installed" >&2
  exit 1
fi

# Key: go.mod, go.sum, every .go file and this script, in a stable order.
key="$(
  cd "$here"
  { printf '%s\n' go.mod go.sum build.sh; find . -maxdepth 1 -name '*.go' -printf '%f\n' | LC_ALL=C sort; } |
    while read -r f; do printf '== %s\n' "$f"; cat "$f"; done |
    sha256sum | cut -c1-16
)"
mkdir -p "$cache/apiserver/$key"
dir="$(cd "$cache/apiserver/$key" && pwd)" # absolute even if POSTMASTER_CACHE is relative
bin="$dir/postmaster-apiserver"

if [ -x "$bin" ]; then
  echo "build.sh: cached $bin" >&2
  echo "$bin"
  exit 0
fi

tmp="$dir/postmaster-apiserver.tmp.$$"
trap 'rm -f "$tmp"' EXIT

# Stamp the Kubernetes version, as the official build does: otherwise the
# server reports v0.0.0-master+$Format:%H$ and `kubectl version` fails.
kver="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")"
kmajor="${kver#v}"; kmajor="${kmajor%%.*}"
kminor="${kver#v*.}"; kminor="${kminor%%.*}"
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$kmajor -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"

echo "build.sh: building postmaster-apiserver ($key); a cold build takes several minutes" >&2
start=$(date +%s)
(cd "$here" && go build -buildvcs=false -ldflags "$ldflags" -o "$tmp" .) >&2
mv -f "$tmp" "$bin"
echo "build.sh: built in $(( $(date +%s) - start ))s: $bin" >&2
echo "$bin"
