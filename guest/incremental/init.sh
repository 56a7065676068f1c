#!/bin/sh
# /init of an incremental build's install VM (busybox sh as PID 1, the image's own kernel booted
# directly; no GRUB, systemd, cloud-init or network). Its one disk is an overlay on the last image
# built from the same inputs but the source. Mounts that image's root file system, runs the install
# half of guest/build/build-payload.sh in a chroot of it with the payload built on the host
# (/payload: the script, spec, found list and artifacts; the payload's files, written first as
# cloud-init writes them in a full build), trims, unmounts and powers off.
# The chroot's /tmp is a tmpfs: the payload's copy never reaches the disk. On the serial console:
#   result.KEY=VALUE   the install half's facts, as the build VM prints them
#   INCR-RESULT N      the install half's exit code (0: installed and smoke-tested), then
#   INCR-DONE          once the file system is unmounted
# No `set -e`: the machine always powers off.

export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /mnt

# The NVMe disk is probed asynchronously: wait for its partitions (~10 s at most).
i=0
while [ ! -e /dev/nvme0n1p1 ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
# The root file system: the ext4 partition holding /etc/os-release.
root=
for p in /dev/nvme0n1p*; do
	if mount -t ext4 -o noatime "$p" /mnt 2>/dev/null; then
		if [ -e /mnt/etc/os-release ]; then root=$p; break; fi
		umount /mnt
	fi
done

rc=1
if [ -z "$root" ]; then
	echo "incremental: no ext4 root file system on the disk:" /dev/nvme0n1*
else
	echo "incremental: root file system $root at $(cut -d' ' -f1 /proc/uptime) s"
	mount -t proc proc /mnt/proc
	mount -t sysfs sysfs /mnt/sys
	mount -o bind /dev /mnt/dev
	mount -t tmpfs -o mode=1777 tmpfs /mnt/tmp
	# The payload's files, as cloud-init's write_files puts them in a full build (root's, MODE).
	while IFS="$(printf '\t')" read -r n mode path; do
		mkdir -p "/mnt${path%/*}"
		cat "/payload/file-$n" >"/mnt$path"
		chown 0:0 "/mnt$path"
		chmod "$mode" "/mnt$path"
	done </payload/files.list
	cp -a /payload /mnt/tmp/vexfs-image-payload
	chroot /mnt /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
		bash /tmp/vexfs-image-payload/build-payload.sh install "$(cat /payload/version)" "$(cat /payload/spec)" "$(cat /payload/found)"
	rc=$?
	echo "incremental: installed at $(cut -d' ' -f1 /proc/uptime) s"
	umount /mnt/tmp /mnt/dev /mnt/sys /mnt/proc
	# The replaced files' blocks: discarded, so the image file does not carry them.
	fstrim /mnt >/dev/null 2>&1
	umount /mnt || mount -o remount,ro /mnt
fi
sync
echo "incremental: trimmed and unmounted at $(cut -d' ' -f1 /proc/uptime) s"
echo "INCR-RESULT $rc"
echo "INCR-DONE"
poweroff -f
