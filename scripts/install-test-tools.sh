#!/usr/bin/env bash
# Installs the outside programs the test suite drives for real (Debian packages):
# dig (dnsutils) and kdig (knot-dnsutils) for DNS, PostgreSQL for the database tests,
# ddclient for the dyndns2 tests, pebble (Let's Encrypt's test ACME server) for the ACME
# tests, Chromium (driven by playwright-core) for the share browser tests, litmus and rclone
# for WebDAV, unzip for the share ZIPs, systemd-analyze to check `udns service` units, wrk,
# OpenSSH and nginx-light (the one-hop reverse-proxy reference) for `npm run bench`, iproute2
# and nftables for the transfer-path tests in network namespaces (a firewall is an nftables
# rule there). Needs root (or sudo).
set -euo pipefail
packages=(dnsutils knot-dnsutils postgresql ddclient wrk openssh-server openssh-client nginx-light dnsperf nsd pebble chromium litmus rclone unzip curl systemd iproute2 nftables)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test tools already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts a system NSD on port 53 when installed; the DNS bench runs its own private one.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now nsd >/dev/null 2>&1 || true
  # Likewise nginx on port 80: the bench starts its own with a config in its work folder.
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
