#!/usr/bin/env bash
# Debian packages MPTCP Studio needs. Without arguments: what the app needs at run time
# (iproute2 for `ip netns exec`, used when looking at another namespace; clang, bpftool and
# libbpf-dev to build and register the coupled MPTCP congestion controls in bpf/). With --test:
# also what the test suite needs (Chromium for Playwright, a C compiler for the lab's traffic
# tool, procps for sysctl inside lab namespaces).
set -euo pipefail
pkgs=(iproute2 clang bpftool libbpf-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(chromium gcc libc6-dev procps)
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
