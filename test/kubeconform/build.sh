#!/usr/bin/env bash
# Builds kubeconform (pinned in go.mod) once and caches it by the hash of
# go.mod, go.sum and this script. Last stdout line: the binary's absolute path.
# Progress goes to stderr. Only the Go module proxy is used.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${POSTMASTER_CACHE:-$repo/.cache}"

export GOTOOLCHAIN=local

if ! command -v go >/dev/null 2>&1; then
  echo "kubeconform/build.sh: go is not installed" >&2
  exit 1
fi

key="$(cd "$here" && for f in go.mod go.sum build.sh; do printf '== %s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16)"
mkdir -p "$cache/kubeconform/$key"
dir="$(cd "$cache/kubeconform/$key" && pwd)"
bin="$dir/kubeconform"

if [ -x "$bin" ]; then
  echo "kubeconform/build.sh: cached $bin" >&2
  echo "$bin"
  exit 0
fi

version="$(awk '$1 == "github.com/yannh/kubeconform" { print $2 }' "$here/go.mod")"
tmp="$dir/kubeconform.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "kubeconform/build.sh: building kubeconform $version ($key)" >&2
(cd "$here" && go build -buildvcs=false -ldflags "-s -w -X main.version=$version" -o "$tmp" github.com/yannh/kubeconform/cmd/kubeconform) >&2
mv -f "$tmp" "$bin"
echo "$bin"
