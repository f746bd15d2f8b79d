#!/usr/bin/env bash
# Installs what building PlanVault needs on a Debian machine (OpenSSL's libcrypto and zlib
# headers) and puts the Swift toolchain on PATH. Safe to run again.
set -euo pipefail
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) export PATH="$PATH:/opt/swift/usr/bin" ;; esac
missing=()
for pkg in libssl-dev zlib1g-dev pkg-config; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: no swift on PATH (expected /opt/swift/usr/bin)" >&2; exit 1; }

