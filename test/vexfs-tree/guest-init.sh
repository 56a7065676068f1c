#!/bin/sh
# /init of the vexfs runtime-test initramfs (busybox sh, runs as PID 1).
# Exercises the vexfs module, prints one "VEXFS-TEST PASS: ..." or "VEXFS-TEST FAIL: ..."
# line per check on the console, then "VEXFS-TEST RESULT: PASS|FAIL ..." and powers off.
# /test.env (written by kernel-test.sh) sets EXPECT_VERSION and HAVE_VEXCTL.
# No `set -e`: every check must run and the machine must always power off.

export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /mnt/vexfs /mnt/vexfs2
mount -t tmpfs tmpfs /tmp
# shellcheck source=/dev/null
. /test.env

checks=0
fails=0
pass() { checks=$((checks + 1)); echo "VEXFS-TEST PASS: $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "VEXFS-TEST FAIL: $*"; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	desc=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		pass "$desc"
	else
		fail "$desc (exit $?)"
		sed 's/^/    | /' /tmp/check.out
	fi
}
# check_not DESCRIPTION COMMAND...: the command must fail.
check_not() {
	desc=$1
	shift
	if "$@" >/tmp/check.out 2>&1; then
		fail "$desc (unexpectedly succeeded)"
		sed 's/^/    | /' /tmp/check.out
	else
		pass "$desc"
	fi
}
# equals EXPECTED COMMAND...: the command's output (trimmed) must be EXPECTED.
equals() {
	want=$1
	shift
	got=$("$@" 2>&1)
	[ "$got" = "$want" ] || { echo "expected '$want', got '$got'"; return 1; }
}
stat_of() { cat "/sys/fs/vexfs/$1"; }

echo "VEXFS-TEST START: kernel $(uname -r), expecting module version $EXPECT_VERSION"

# -- load --
check "insmod vexfs.ko" insmod /vexfs.ko
check "/sys/module/vexfs/version is $EXPECT_VERSION" equals "$EXPECT_VERSION" cat /sys/module/vexfs/version
check "/sys/fs/vexfs/version is $EXPECT_VERSION" equals "$EXPECT_VERSION" stat_of version
check "vexfs is registered in /proc/filesystems" grep -qx 'nodev	vexfs' /proc/filesystems
check "stats: 0 mounts after load" equals 0 stat_of mounts

if [ "$HAVE_VEXCTL" = 1 ]; then
	check "vexctl --version prints 'vexctl $EXPECT_VERSION'" equals "vexctl $EXPECT_VERSION" /bin/vexctl --version
	check "vexctl status exits 0 with the module loaded" /bin/vexctl status
	check "vexctl status reports the module version" \
		sh -c "/bin/vexctl status | grep -qxF 'module:        loaded (version $EXPECT_VERSION)'"
	check "vexctl status reports vexfs registered" \
		sh -c "/bin/vexctl status | grep -qxF 'filesystem:    vexfs registered'"
fi

# -- mount and file operations --
M=/mnt/vexfs
check "mount -t vexfs none $M" mount -t vexfs none $M
check "stats: 1 mount" equals 1 stat_of mounts
check "$M listed in /proc/mounts as vexfs" grep -q "^none $M vexfs " /proc/mounts
check "statfs reports the vexfs magic" equals 56455846 stat -f -c %t $M
check "df works on $M" df $M
check "write a small file" sh -c "echo hello vexfs > $M/hello.txt"
check "read it back" equals "hello vexfs" cat $M/hello.txt
check "append to it" sh -c "echo second line >> $M/hello.txt"
check "read back both lines" equals "hello vexfs
second line" cat $M/hello.txt
check "file size is 24 bytes" equals 24 stat -c %s $M/hello.txt
check "make 2 MiB of random data" dd if=/dev/urandom of=/tmp/big bs=65536 count=32
check "copy it onto vexfs" cp /tmp/big $M/big
check "read 2 MiB back identically" cmp /tmp/big $M/big
check "truncate to 1000 bytes" truncate -s 1000 $M/big
check "size after truncate is 1000" equals 1000 stat -c %s $M/big
check "truncated content is the prefix" sh -c "head -c 1000 /tmp/big | cmp - $M/big"
check "overwrite in the middle (dd conv=notrunc)" \
	sh -c "printf XYZ | dd of=$M/hello.txt bs=1 seek=6 conv=notrunc"
check "overwritten content" equals "hello XYZfs" head -n 1 $M/hello.txt
check "mkdir" mkdir $M/dir
check "mkdir -p nested" mkdir -p $M/dir/sub/deeper
check "rename a file into a subdirectory" mv $M/hello.txt $M/dir/sub/renamed.txt
check "old name is gone" test ! -e $M/hello.txt
check "new name has the content" equals "hello XYZfs" head -n 1 $M/dir/sub/renamed.txt
check "rename a directory" mv $M/dir/sub/deeper $M/moved
check "renamed directory exists" test -d $M/moved
check "hard link" ln $M/dir/sub/renamed.txt $M/link.txt
check "link count is 2" equals 2 stat -c %h $M/link.txt
check "symlink" ln -s dir/sub/renamed.txt $M/sym
check "readlink" equals dir/sub/renamed.txt readlink $M/sym
check "read through the symlink" equals "hello XYZfs" head -n 1 $M/sym
check "mkfifo (mknod)" mkfifo $M/fifo
check "chmod" chmod 600 $M/link.txt
check "mode after chmod" equals 600 stat -c %a $M/link.txt
check "directory listing" equals "big dir fifo link.txt moved sym" sh -c "ls $M | tr '\n' ' ' | sed 's/ \$//'"
check_not "rmdir of a non-empty directory fails" rmdir $M/dir
check "unlink" rm $M/dir/sub/renamed.txt
check "unlinked file is gone" test ! -e $M/dir/sub/renamed.txt
check "hard link survives unlink of the other name" equals "hello XYZfs" head -n 1 $M/link.txt
check "rmdir empty directories" sh -c "rmdir $M/dir/sub && rmdir $M/dir && rmdir $M/moved"
check "stats: inodes are counted" sh -c "test \$(cat /sys/fs/vexfs/inodes) -ge 5"
check "nonexistent file is not found" sh -c "! cat $M/nope 2>/dev/null"

if [ "$HAVE_VEXCTL" = 1 ]; then
	check "vexctl status lists the mount" sh -c "/bin/vexctl status | grep -qxF '  none on $M (rw,relatime)'"
	check "vexctl status counts 1 active mount" sh -c "/bin/vexctl status | grep -qxF 'active mounts: 1'"
fi

# -- a second, independent instance --
check "second mount" mount -t vexfs none /mnt/vexfs2
check "stats: 2 mounts" equals 2 stat_of mounts
check "the second instance is empty" equals "" ls -A /mnt/vexfs2
check "unmount the second instance" umount /mnt/vexfs2
check "stats: back to 1 mount" equals 1 stat_of mounts

# -- module lifetime --
check_not "rmmod refuses while mounted" rmmod vexfs
check "module still loaded after refused rmmod" test -d /sys/module/vexfs
check "files survive the refused rmmod" equals "hello XYZfs" head -n 1 $M/link.txt
check "umount $M" umount $M
check "stats: 0 mounts after umount" equals 0 stat_of mounts
check "stats: 0 inodes after umount" equals 0 stat_of inodes
check "rmmod vexfs" rmmod vexfs
check "/sys/module/vexfs is gone" test ! -e /sys/module/vexfs
check "/sys/fs/vexfs is gone" test ! -e /sys/fs/vexfs
check_not "vexfs no longer registered" grep -q vexfs /proc/filesystems
check_not "mount fails without the module" mount -t vexfs none $M
if [ "$HAVE_VEXCTL" = 1 ]; then
	/bin/vexctl status >/tmp/vexctl.out 2>&1
	rc=$?
	if [ $rc = 3 ]; then pass "vexctl status exits 3 with the module unloaded"; else
		fail "vexctl status exits 3 with the module unloaded (got $rc)"; sed 's/^/    | /' /tmp/vexctl.out; fi
fi
check "reload, mount, write, unmount, unload again" sh -c \
	"insmod /vexfs.ko && mount -t vexfs none $M && echo x > $M/f && umount $M && rmmod vexfs"

# -- kernel health --
dmesg >/tmp/dmesg.txt
if grep -E 'Oops|BUG:|kernel BUG|WARNING:|Call Trace|general protection|RIP:' /tmp/dmesg.txt >/tmp/bad.txt; then
	fail "kernel log is clean (no oops, bug or warning reports)"
	sed 's/^/    | /' /tmp/bad.txt
else
	pass "kernel log is clean (no oops, bug or warning reports)"
fi
# Loading an out-of-tree, unsigned module sets taint flags O (4096) and E (8192); any other is bad.
tainted=$(cat /proc/sys/kernel/tainted)
if [ $((tainted & ~(4096 | 8192))) -eq 0 ]; then
	pass "kernel not tainted beyond out-of-tree/unsigned module (tainted=$tainted)"
else
	fail "kernel tainted: $tainted"
fi
echo "VEXFS-TEST kernel log (vexfs lines):"
grep -i vexfs /tmp/dmesg.txt | sed 's/^/    | /'

if [ $fails -eq 0 ]; then
	echo "VEXFS-TEST RESULT: PASS ($checks checks, kernel $(uname -r))"
else
	echo "VEXFS-TEST RESULT: FAIL ($fails of $checks checks failed, kernel $(uname -r))"
fi
sync
poweroff -f
