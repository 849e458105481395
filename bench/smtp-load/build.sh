#!/usr/bin/env bash
# Builds the smtp-load client once and caches it by the hash of its sources,
# as scripts/lib/go-build-cached.sh does. Last stdout line: the absolute binary path.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib/go-build-cached.sh
source "$here/../../scripts/lib/go-build-cached.sh"

mapfile -t sources < <(cd "$here" && find . -maxdepth 1 -name '*.go' -printf '%f\n' | LC_ALL=C sort)
go_build_cached smtp-load "$here" go.mod build.sh "${sources[@]}" -- -trimpath .
