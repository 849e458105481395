#!/usr/bin/env bash
# Installs schemathesis (PyPI), pinned with everything it pulls in by
# test/schemathesis/requirements.txt, into a virtualenv of its own under the
# cache, keyed by the hash of that file and this script. Idempotent: a no-op in
# milliseconds when the venv is there. Last stdout line: the absolute path of
# the schemathesis command.
#
#   POSTMASTER_CACHE  cache root (default: <repo>/.cache)
#
# test/cluster/endpoint/schemathesis.test.ts runs it against the HTTP door.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
requirements="$repo/test/schemathesis/requirements.txt"
cache="${POSTMASTER_CACHE:-$repo/.cache}"
key="$(cat "$requirements" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-16)"
venv="$cache/schemathesis/$key"
bin="$venv/bin/schemathesis"

if [ -x "$bin" ] && [ -f "$venv/.complete" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$cache/schemathesis"
# Test files and `npm test`'s pretest may run this at once: one installs, the others wait and find it done.
exec 9>"$cache/schemathesis/.lock"
flock 9
if [ -x "$bin" ] && [ -f "$venv/.complete" ]; then
  echo "$bin"
  exit 0
fi

python="$(command -v python3)"
rm -rf "$venv"
"$python" -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
"$bin" --version >&2
touch "$venv/.complete"
echo "$bin"
