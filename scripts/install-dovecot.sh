#!/usr/bin/env bash
# Installs Debian's Dovecot (IMAP + POP3) and openssl for the mailbox connection tests.
# Idempotent, and a no-op in milliseconds when they are installed. Needs root (as tests
# and CI run here). Only the binaries are wanted: each test file runs a private instance
# with its own config (test/support/dovecot.ts); a system instance the package may have
# started is stopped, so it holds no ports or state.
set -euo pipefail

packages=(dovecot-imapd dovecot-pop3d openssl)

missing_packages() {
  missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
}

missing_packages
[ ${#missing[@]} -eq 0 ] && exit 0

# Test files start their own Dovecot in parallel and each runs this script: one installs,
# the others wait for it here and then find everything installed.
exec 9>/var/lock/postmaster-install-dovecot.lock
flock 9
missing_packages
[ ${#missing[@]} -eq 0 ] && exit 0

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=300)
# Refresh the package lists when they do not know the packages yet.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq -o DPkg::Lock::Timeout=300
fi
if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >/dev/null; then
  # Stale lists name versions the mirror no longer has: refresh once and retry.
  apt-get update -qq -o DPkg::Lock::Timeout=300
  apt-get install "${apt_opts[@]}" "${missing[@]}" >/dev/null
fi

# Without systemd the package's postinst may have started the system instance.
if [ -e /run/dovecot/master.pid ]; then
  doveadm stop >/dev/null 2>&1 || true
fi
