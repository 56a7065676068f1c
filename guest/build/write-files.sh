#!/bin/bash
# Writes the payload's files and enables its units, as cloud-init's write_files and runcmd do in
# a build VM booted with them in its seed: root's, MODE, missing parent directories 0755. Used when
# the build VM was resumed from a snapshot (src/builder/warm-start.ts), whose seed carries none.
# Input: $files, "MODE<TAB>PATH<TAB>BASE64" a line (set by the host in the script's prelude).
# Usage: write-files.sh [UNIT...]
set -euo pipefail
umask 022
n=0
while IFS=$'\t' read -r mode path data; do
  [ -n "$path" ] || continue
  mkdir -p "${path%/*}"
  base64 -d <<<"$data" >"$path"
  chown 0:0 "$path"
  chmod "$mode" "$path"
  n=$((n + 1))
done <<<"${files:-}"
# The unit files' symlinks, as runcmd's `systemctl enable` makes them; without reloading the
# running manager (seconds under TCG), which this build VM never asks to start them.
if [ "$#" -gt 0 ]; then
  systemctl --no-reload enable "$@" 2>&1
fi
echo "result.files_written=$n"
