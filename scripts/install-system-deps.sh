#!/usr/bin/env bash
# Installs the Debian packages the tests run for real: Postfix (a real MTA for the
# SMTP checks and transport), openssl (test certificates) and prometheus (its promtool
# checks the chart's alert rules and the operator's /metrics; the server is never started),
# dnsmasq (dnsmasq-base: the binary, no system service; tests run it on a loopback port
# to serve SendingDomain records), and a DKIM verifier nobody on the project wrote:
# Python's dkimpy (python3-dkim; python3-nacl for Ed25519; python3-dnspython to ask
# the test's dnsmasq).
# Idempotent and fast when everything is there. Needs root (as tests and CI run here).
# Only the binaries are wanted: tests run private instances with their own config
# (test/support/postfix.ts); a system instance, if the package started one, is stopped
# so it never holds port 25 or a queue the tests might confuse with theirs.
set -euo pipefail

packages=(postfix openssl prometheus dnsmasq-base redis-server python3-dkim python3-dnspython python3-nacl)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Another apt run (a sibling install script, an unattended upgrade) may hold the lock: wait for it.
apt=(apt-get -o DPkg::Lock::Timeout=300)
# "No configuration": postinst writes no main.cf and starts no system instance.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
echo 'postfix postfix/mailname string localhost' | debconf-set-selections

# Refresh the package lists when they are absent or the candidate cannot be found.
if ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
  "${apt[@]}" update -qq
fi
if ! "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
  # Lists may be stale (a superseded version 404s): refresh once and retry.
  "${apt[@]}" update -qq
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Without systemd the postinst may have started the system instance; stop it (best effort).
if [ -x /usr/sbin/postfix ] && [ -f /etc/postfix/main.cf ]; then
  /usr/sbin/postfix stop >/dev/null 2>&1 || true
fi
