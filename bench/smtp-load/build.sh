#!/usr/bin/env bash
# Builds the smtp-load client once and caches it by the hash of its sources,
# as test/apiserver/build.sh does. Last stdout line: the absolute binary path.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${POSTMASTER_CACHE:-$repo/.cache}"

export GOTOOLCHAIN=local

if ! command -v go >/dev/null 2>&1; then
  echo "build.sh: go is not installed" >&2
  exit 1
fi

key="$(
  cd "$here"
  { printf '%s\n' go.mod build.sh; find . -maxdepth 1 -name '*.go' -printf '%f\n' | LC_ALL=C sort; } |
    while read -r f; do printf '== %s\n' "$f"; cat "$f"; done |
    sha256sum | cut -c1-16
)"
mkdir -p "$cache/smtp-load/$key"
dir="$(cd "$cache/smtp-load/$key" && pwd)"
bin="$dir/smtp-load"

if [ -x "$bin" ]; then
  echo "build.sh: cached $bin" >&2
  echo "$bin"
  exit 0
fi

tmp="$dir/smtp-load.tmp.$$"
trap 'rm -f "$tmp"' EXIT
echo "build.sh: building smtp-load ($key)" >&2
(cd "$here" && go build -buildvcs=false -trimpath -o "$tmp" .) >&2
mv -f "$tmp" "$bin"
echo "$bin"
