#!/bin/bash
# Mounts the VexFS source read-only at MOUNTPOINT. Tries the -virtfs (9p) share first; guests
# whose kernel has no 9p (Debian's cloud kernel) get the read-only source disk instead.
# Usage: mount-source.sh MOUNTPOINT MOUNT_TAG DISK_SERIAL
# Prints "transport=virtfs" or "transport=disk".
set -euo pipefail
mnt="$1" tag="$2" serial="$3"
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then umount "$mnt"; fi
if modprobe 9pnet_virtio 2>/dev/null && mount -t 9p -o trans=virtio,version=9p2000.L,ro "$tag" "$mnt" 2>/dev/null; then
  echo "transport=virtfs"
  exit 0
fi
dev="/dev/disk/by-id/virtio-$serial"
for _ in $(seq 1 20); do [ -e "$dev" ] && break; udevadm settle 2>/dev/null || sleep 0.5; done
if [ ! -e "$dev" ]; then
  echo "neither the 9p share '$tag' nor the source disk $dev is available" >&2
  exit 1
fi
mount -o ro,noload "$dev" "$mnt"
echo "transport=disk"
