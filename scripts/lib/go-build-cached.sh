# Sourced by the build.sh scripts of the Go tools the tests and benchmarks use
# (helm, kubeconform, the smtp-load client): build once from the Go module proxy,
# cache by a hash of the files that decide the binary, print its absolute path.
#
#   go_build_cached NAME DIR FILE... -- GO_BUILD_ARGS...
#
# NAME names the cache folder and the binary (FOLDER:BINARY when they differ); DIR holds go.mod; FILEs (relative
# to DIR) make the cache key. Progress goes to stderr; the last stdout line is
# the binary's path.   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
go_build_cached() {
  local name="${1%%:*}" binary="${1##*:}" here="$2"
  shift 2
  local files=()
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
  shift
  local repo cache key dir bin tmp start
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cache="${POSTMASTER_CACHE:-$repo/.cache}"
  export GOTOOLCHAIN=local
  if ! command -v go >/dev/null 2>&1; then
    echo "$name/build.sh: go is not installed" >&2
    return 1
  fi
  key="$(cd "$here" && for f in "${files[@]}"; do printf '== %s\n' "$f"; cat "$f"; done | sha256sum | cut -c1-16)"
  mkdir -p "$cache/$name/$key"
  dir="$(cd "$cache/$name/$key" && pwd)" # absolute even if POSTMASTER_CACHE is relative
  bin="$dir/$binary"
  if [ -x "$bin" ]; then
    echo "$name/build.sh: cached $bin" >&2
    echo "$bin"
    return 0
  fi
  tmp="$dir/$binary.tmp.$$"
  # shellcheck disable=SC2064 # the path is fixed now, on purpose
  trap "rm -f '$tmp'" EXIT
  echo "$name/build.sh: building $binary ($key); a cold build can take minutes" >&2
  start=$(date +%s)
  (cd "$here" && go build -buildvcs=false -o "$tmp" "$@") >&2
  mv -f "$tmp" "$bin"
  echo "$name/build.sh: built in $(( $(date +%s) - start ))s: $bin" >&2
  echo "$bin"
}
