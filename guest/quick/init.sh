#!/bin/sh
# /init of the quick module test's initramfs (busybox sh as PID 1, the image's own kernel, no
# disk, no network, no systemd). Runs the payload's module checks and reports each on the
# serial console as one line the host parses (src/quick/result.ts):
#   QUICK-CHECK passed|failed|skipped ID GROUP DESCRIPTION[: why]
#   QUICK-OUT | captured output of the check above
#   QUICK-RESULT PASS|FAIL CHECKS FAILED KERNEL_RELEASE
# then powers off. /quick.env (written by src/quick/initramfs.ts) names the modules (in load
# order), each module's filesystem, and the tools with their version command and expected output.
# No `set -e`: every check runs, and the machine always powers off.

export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /mnt
mount -t tmpfs tmpfs /tmp
# shellcheck source=/dev/null
. /quick.env

checks=0
fails=0
report() { # STATUS ID GROUP DESCRIPTION
	checks=$((checks + 1))
	[ "$1" = failed ] && fails=$((fails + 1))
	echo "QUICK-CHECK $1 $2 $3 $4"
}
# check ID GROUP DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	id=$1 group=$2 desc=$3
	shift 3
	if "$@" >/tmp/check.out 2>&1; then report passed "$id" "$group" "$desc"; else
		report failed "$id" "$group" "$desc: exit $?"
		sed 's/^/QUICK-OUT | /' /tmp/check.out
	fi
}
# check_not ID GROUP DESCRIPTION COMMAND...: passes when the command fails.
check_not() {
	id=$1 group=$2 desc=$3
	shift 3
	if "$@" >/tmp/check.out 2>&1; then
		report failed "$id" "$group" "$desc: it succeeded"
		sed 's/^/QUICK-OUT | /' /tmp/check.out
	else report passed "$id" "$group" "$desc"; fi
}
equals() { # EXPECTED COMMAND...: the command's output must be EXPECTED
	want=$1
	shift
	got=$("$@" 2>&1)
	[ "$got" = "$want" ] || { echo "expected '$want', got '$got'"; return 1; }
}
fs_of() { eval "echo \"\${FS_$1:-}\""; }

echo "QUICK-START kernel $(uname -r)"

# -- load, in the declared order --
for m in $MODULES; do
	check "module-load-$m" "$m" "insmod $m.ko" insmod "/modules/$m.ko"
	check "module-present-$m" "$m" "/sys/module/$m exists" test -d "/sys/module/$m"
	if [ -f "/sys/module/$m/version" ]; then
		check "module-version-$m" "$m" "/sys/module/$m/version is $EXPECT_VERSION" equals "$EXPECT_VERSION" cat "/sys/module/$m/version"
	fi
done

# -- the tools, with the modules loaded --
i=0
while [ "$i" -lt "${TOOL_COUNT:-0}" ]; do
	eval "name=\$TOOL_${i}_NAME cmd=\$TOOL_${i}_CMD expect=\$TOOL_${i}_EXPECT"
	# shellcheck disable=SC2154 # set by the eval above
	if [ -n "$cmd" ]; then check "tool-version-$name" "$name" "$cmd prints '$expect'" equals "$expect" sh -c "$cmd"; fi
	i=$((i + 1))
done

# -- each filesystem: mount, file operations, a second instance, busy unload --
for m in $MODULES; do
	fs=$(fs_of "$m")
	[ -n "$fs" ] || continue
	M=/mnt/$fs
	mkdir -p "$M" "$M-2"
	check "fs-registered-$fs" "$m" "$fs is registered in /proc/filesystems" grep -q "[[:space:]]$fs\$" /proc/filesystems
	if ! grep -q "^nodev[[:space:]]$fs\$" /proc/filesystems; then
		report skipped "fs-mount-$fs" "$m" "mount $fs: a block-device filesystem (needs a device and mkfs, which the quick test does not make)"
		continue
	fi
	check "fs-mount-$fs" "$m" "mount -t $fs none $M" mount -t "$fs" none "$M"
	check "fs-write-$fs" "$m" "write and read back a file" sh -c "echo hello > $M/hello && test \"\$(cat $M/hello)\" = hello"
	check "fs-big-$fs" "$m" "copy 1 MiB onto it and read it back identically" sh -c "dd if=/dev/urandom of=/tmp/big bs=65536 count=16 2>/dev/null && cp /tmp/big $M/big && cmp /tmp/big $M/big"
	check "fs-dirs-$fs" "$m" "mkdir, rename into it, unlink, rmdir" sh -c "mkdir $M/d && mv $M/hello $M/d/h && test ! -e $M/hello && rm $M/d/h && rmdir $M/d"
	check "fs-statfs-$fs" "$m" "statfs works" stat -f "$M"
	check "fs-second-$fs" "$m" "a second instance mounts and unmounts" sh -c "mount -t $fs none $M-2 && umount $M-2"
	check_not "module-busy-$m" "$m" "rmmod $m refuses while mounted" rmmod "$m"
	check "fs-umount-$fs" "$m" "umount $M" umount "$M"
done

# -- unload, in reverse order --
rev=
for m in $MODULES; do rev="$m $rev"; done
for m in $rev; do
	check "module-unload-$m" "$m" "rmmod $m" rmmod "$m"
	check "module-gone-$m" "$m" "/sys/module/$m is gone" test ! -e "/sys/module/$m"
done

# -- kernel health --
dmesg >/tmp/dmesg.txt
if grep -E 'Oops|BUG:|kernel BUG|WARNING:|Call Trace|general protection|RIP:' /tmp/dmesg.txt >/tmp/bad.txt; then
	report failed kernel-log kernel "kernel log is clean (no oops, bug or warning reports)"
	sed 's/^/QUICK-OUT | /' /tmp/bad.txt
else
	report passed kernel-log kernel "kernel log is clean (no oops, bug or warning reports)"
fi
# An out-of-tree, unsigned module sets taint flags O (4096) and E (8192); any other is bad.
tainted=$(cat /proc/sys/kernel/tainted)
if [ $((tainted & ~(4096 | 8192))) -eq 0 ]; then
	report passed kernel-taint kernel "kernel not tainted beyond out-of-tree/unsigned (tainted=$tainted)"
else
	report failed kernel-taint kernel "kernel not tainted beyond out-of-tree/unsigned: tainted=$tainted"
fi

if [ $fails -eq 0 ]; then echo "QUICK-RESULT PASS $checks 0 $(uname -r)"; else echo "QUICK-RESULT FAIL $checks $fails $(uname -r)"; fi
sync
poweroff -f
