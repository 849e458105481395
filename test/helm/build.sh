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
# shellcheck source=../../scripts/lib/go-build-cached.sh
source "$here/../../scripts/lib/go-build-cached.sh"

# Stamp what helm's own Makefile stamps: its version, and the Kubernetes version
# it assumes offline (helm template, lint), taken from the client-go it links.
hver="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' "$here/go.mod")"
cgo="$(awk '$1 == "k8s.io/client-go" { print $2 }' "$here/go.mod")"
kminor="${cgo#v0.}"; kminor="${kminor%%.*}"
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$hver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags="$ldflags -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$kminor"
done

go_build_cached helm "$here" go.mod go.sum build.sh -- -trimpath -ldflags "$ldflags" helm.sh/helm/v3/cmd/helm
