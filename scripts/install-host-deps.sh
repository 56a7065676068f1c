#!/usr/bin/env bash
# Installs the Debian packages vexfs-image and its test suite need on a fresh Debian/Ubuntu
# machine (as root, or with sudo). Idempotent: apt-get skips what is already installed.
set -euo pipefail
PKGS=(
  qemu-system-x86 qemu-utils cloud-image-utils openssh-client mmdebstrap e2fsprogs fdisk
  busybox-static cpio shellcheck ca-certificates cargo libc6-dev make gcc gzip
  ovmf dosfstools mtools pigz
)
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
