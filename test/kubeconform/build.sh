#!/usr/bin/env bash
# Builds kubeconform (pinned in go.mod) once and caches it by the hash of
# go.mod, go.sum and this script. Last stdout line: the binary's absolute path.
# Progress goes to stderr. Only the Go module proxy is used.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../scripts/lib/go-build-cached.sh
source "$here/../../scripts/lib/go-build-cached.sh"

version="$(awk '$1 == "github.com/yannh/kubeconform" { print $2 }' "$here/go.mod")"
go_build_cached kubeconform "$here" go.mod go.sum build.sh -- -ldflags "-s -w -X main.version=$version" github.com/yannh/kubeconform/cmd/kubeconform
