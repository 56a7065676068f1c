#!/bin/bash
# Applies a variant's finishing touches (runs as root).
# Usage: apply-variant.sh KEEP_TOOLCHAIN(0|1) SLIM(0|1) HARDENING(0|1) FILES_DIR [TOOLCHAIN_PACKAGE...]
# FILES_DIR holds the hardening files uploaded by the host (guest/hardening in the repo).
set -euo pipefail
keep_toolchain="$1" slim="$2" hardening="$3" files="$4"
shift 4
export DEBIAN_FRONTEND=noninteractive

if [ "$hardening" = 1 ]; then
  echo "==> production hardening"
  # In sshd_config itself, above its Include of sshd_config.d: see harden-sshd.sh.
  bash "$files/harden-sshd.sh" "$files/sshd.conf" /etc/ssh/sshd_config
  install -D -m 0644 "$files/sysctl.conf" /etc/sysctl.d/90-vexfs-hardening.conf
  install -D -m 0644 "$files/50unattended-upgrades-vexfs" /etc/apt/apt.conf.d/50unattended-upgrades-vexfs
  install -D -m 0644 "$files/20auto-upgrades" /etc/apt/apt.conf.d/20auto-upgrades
  # Hold the kernel: vexfs.ko is built for exactly this one.
  mapfile -t kernels < <(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'linux-image-*' | awk '$1 ~ /^ii/ {print $2}')
  apt-mark hold "${kernels[@]}" >/dev/null
  sysctl --system >/dev/null
  sshd -t
fi

if [ "$keep_toolchain" = 0 ] && [ "$#" -gt 0 ]; then
  echo "==> purging the build toolchain: $*"
  # Purge only what is installed; patterns like linux-headers-* are expanded by dpkg-query.
  installed=()
  for p in "$@"; do
    while read -r name; do [ -n "$name" ] && installed+=("$name"); done < <(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' -- "$p" 2>/dev/null | awk '$1 ~ /^ii/ {print $2}')
  done
  if [ "${#installed[@]}" -gt 0 ]; then
    apt-get purge -y -q --autoremove -- "${installed[@]}" >/dev/null
  fi
  rm -rf /usr/src/vexfs /root/.cargo
fi

if [ "$slim" = 1 ]; then
  echo "==> slimming: docs, man pages, locales, caches"
  rm -rf /usr/share/doc/* /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
  find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
  cat > /etc/dpkg/dpkg.cfg.d/90-vexfs-slim <<'CFG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
fi
echo "result.packages=$(dpkg-query -W -f '${db:Status-Abbrev}\n' | grep -c '^ii')"
