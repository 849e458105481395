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
# shellcheck source=../../scripts/lib/go-build-cached.sh
source "$here/../../scripts/lib/go-build-cached.sh"

# Stamp the Kubernetes version, as the official build does: otherwise the
# server reports v0.0.0-master+$Format:%H$ and `kubectl version` fails.
kver="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")"
kmajor="${kver#v}"; kmajor="${kmajor%%.*}"
kminor="${kver#v*.}"; kminor="${kminor%%.*}"
vpkg=k8s.io/component-base/version
ldflags="-s -w -X $vpkg.gitVersion=$kver -X $vpkg.gitMajor=$kmajor -X $vpkg.gitMinor=$kminor -X $vpkg.gitTreeState=clean"

# Key: go.mod, go.sum, every .go file and this script, in a stable order.
mapfile -t sources < <(cd "$here" && find . -maxdepth 1 -name '*.go' -printf '%f\n' | LC_ALL=C sort)
go_build_cached apiserver:postmaster-apiserver "$here" go.mod go.sum build.sh "${sources[@]}" -- -ldflags "$ldflags" .
