#!/bin/bash
# Production hardening of sshd (runs as root in the build VM; uploaded with the other files of
# guest/hardening by the host). sshd keeps the FIRST value it reads for a keyword, and Debian's
# sshd_config starts with "Include /etc/ssh/sshd_config.d/*.conf", where cloud-init writes
# 50-cloud-init.conf (PasswordAuthentication yes for a seed with ssh_pwauth: true). A drop-in
# named 90-... therefore lost to it. So the settings go into sshd_config itself, above that
# Include line: read first, they win over every drop-in any later seed writes. cloud-init keeps
# editing only 50-cloud-init.conf as long as the Include line is there (its ssh_util checks for
# exactly that line), so the line is left as it is. Global settings only, no Match block.
# Usage: harden-sshd.sh HARDENING_CONF [SSHD_CONFIG]   (default /etc/ssh/sshd_config)
set -euo pipefail
conf="$1" cfg="${2:-/etc/ssh/sshd_config}"
dropins="$(dirname "$cfg")/sshd_config.d"
begin='# BEGIN vexfs-image production hardening'
end='# END vexfs-image production hardening'

# Also as a drop-in sorting before cloud-init's, for anyone reading sshd_config.d.
rm -f "$dropins/90-vexfs-hardening.conf"
install -D -m 0644 "$conf" "$dropins/00-vexfs-hardening.conf"

tmp="$cfg.vexfs-image.$$"
{
  echo "$begin"
  echo "# sshd keeps the first value it reads: these come before the Include below, so no drop-in overrides them."
  grep -Ev '^[[:space:]]*(#|$)' "$conf"
  echo "$end"
  # An earlier run's block is replaced, not repeated.
  sed "/^$begin\$/,/^$end\$/d" "$cfg"
} > "$tmp"
chmod --reference="$cfg" "$tmp"
mv -f "$tmp" "$cfg"
