#!/usr/bin/env bash
# Debian packages MPTCP Studio needs. Without arguments: what the app needs at run time
# (iproute2 for `ip netns exec`, used when looking at another namespace; clang, bpftool and
# libbpf-dev to build and register the coupled MPTCP congestion controls in bpf/). With --test:
# also what the test suite needs (Chromium for Playwright, a C compiler for the lab's traffic
# tool, procps for sysctl inside lab namespaces; for the Path doctor's lab and benches: iptables
# as the middleboxes, tcpdump to record fixtures, nmap, traceroute and zmap to compare with).
# gcc and libc6-dev build the Path doctor's probe helper (native/mptcp-probe.c, npm run build:probe).
# Fleet (docs/fleet.md): prometheus (and its promtool) for the exporter's and the Fleet page's
# tests, prometheus-node-exporter for bench:exporter, openssl for the TLS tests' certificates.
# On a systemd machine Debian also starts their services; the tests and benches do not use them
# (they start their own, on free loopback ports or inside lab namespaces).
set -euo pipefail
pkgs=(iproute2 clang bpftool libbpf-dev gcc libc6-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(chromium procps iptables tcpdump nmap traceroute zmap prometheus prometheus-node-exporter openssl)
  # The privileged agent's polkit route (e2e/agent-discovery.spec.ts starts its own system bus and polkitd).
  pkgs+=(polkitd pkexec dbus-daemon dbus-bin)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
