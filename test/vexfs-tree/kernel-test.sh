#!/bin/bash
# Compile the example vexfs module against a Debian cloud kernel and boot-test it.
#
#   kernel-test.sh compile SUITE OUTDIR   build vexfs.ko in SUITE's root (make-root.sh) with
#                                         that suite's gcc and headers; fail on any warning.
#                                         Writes OUTDIR/{vexfs.ko,build.log,kernel-release}.
#   kernel-test.sh vexctl OUTDIR          build a static vexctl with the host's cargo into
#                                         OUTDIR/vexctl (for the initramfs).
#   kernel-test.sh boot SUITE OUTDIR      boot SUITE's kernel (-kernel) under QEMU/TCG with a
#                                         busybox initramfs holding OUTDIR/vexfs.ko (and
#                                         OUTDIR/vexctl if present) and guest-init.sh as
#                                         /init. Writes OUTDIR/serial.log; fails unless the
#                                         guest reports PASS and the log has no Oops/BUG/WARNING.
#
# Env: VEXFS_TEST_VERSION (module/vexctl version to build and expect, default 9.8.7-test),
#      VEXFS_TEST_BOOT_TIMEOUT (seconds, default 180), VEXFS_TEST_BUSYBOX (static busybox,
#      default /bin/busybox from busybox-static), VEXFS_TREE (default: examples/vexfs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tree=${VEXFS_TREE:-$repo/examples/vexfs}
version=${VEXFS_TEST_VERSION:-9.8.7-test}

cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
die() { echo "kernel-test.sh: $*" >&2; exit 1; }
log() { echo "kernel-test.sh: $*" >&2; }

# kernel_release ROOT: the release of the (single) cloud kernel installed in ROOT.
kernel_release() {
  local root=$1 k
  k=$(cd "$root/boot" && ls vmlinuz-*-cloud-amd64 2>/dev/null) || die "no cloud kernel in $root/boot"
  [[ $(wc -w <<<"$k") == 1 ]] || die "more than one kernel in $root/boot: $k"
  echo "${k#vmlinuz-}"
}

cmd_compile() {
  local suite=$1 out=$2 root kver build rc
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  root=$("$here/make-root.sh" "$suite")
  kver=$(kernel_release "$root")
  [[ -d $root/usr/src/linux-headers-$kver ]] || die "headers for $kver missing in $root"

  # Copy the sources into the root (the compiler must be the suite's own) and build with
  # the tree's Makefile, passing VERSION on the command line as a user would.
  build=$(mktemp -d "$root/tmp/vexfs-build.XXXXXX")
  cleanup+=("$build")
  cp "$tree/Makefile" "$tree/Kbuild" "$tree/VERSION" "$tree"/*.c "$build/"
  log "compiling vexfs for $kver ($suite), VERSION=$version"
  rc=0
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    chroot "$root" make -C "/tmp/${build##*/}" module \
    KDIR="/usr/src/linux-headers-$kver" VERSION="$version" >"$out/build.log" 2>&1 || rc=$?
  cat "$out/build.log" >&2
  [[ $rc == 0 ]] || die "build failed for $kver (exit $rc)"
  if grep -Ei 'warning:|error:' "$out/build.log" >&2; then
    die "the build for $kver printed warnings (above)"
  fi
  cp "$build/vexfs.ko" "$out/vexfs.ko"
  echo "$kver" >"$out/kernel-release"
  chroot "$root" modinfo "/tmp/${build##*/}/vexfs.ko" >"$out/modinfo.txt"
  local vermagic modver
  vermagic=$(awk '$1 == "vermagic:" {print $2}' "$out/modinfo.txt")
  modver=$(awk '$1 == "version:" {print $2}' "$out/modinfo.txt")
  [[ $vermagic == "$kver" ]] || die "vermagic '$vermagic' does not match kernel $kver"
  [[ $modver == "$version" ]] || die "module version '$modver', expected '$version'"
  log "OK: vexfs.ko for $kver, version $modver, no warnings"
}

cmd_vexctl() {
  local out=$1 cargo=${CARGO:-cargo}
  mkdir -p "$out"
  out=$(cd "$out" && pwd)
  command -v "$cargo" >/dev/null || die "cargo not found"
  # Statically linked: the initramfs has no C library.
  (cd "$tree" && VEXCTL_VERSION=$version CARGO_TARGET_DIR=$out/cargo-target \
    RUSTFLAGS='-C target-feature=+crt-static' "$cargo" build --release --offline -p vexctl) >&2
  cp "$out/cargo-target/release/vexctl" "$out/vexctl"
  "$out/vexctl" --version | grep -qxF "vexctl $version" || die "vexctl reports the wrong version"
  log "OK: static vexctl $version"
}

cmd_boot() {
  local suite=$1 out=$2 root kver busybox initrd work have_vexctl=0 rc applet
  out=$(cd "$out" && pwd)
  [[ -f $out/vexfs.ko ]] || die "$out/vexfs.ko missing: run '$0 compile $suite $out' first"
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found"
  command -v cpio >/dev/null || die "cpio not found"
  busybox=${VEXFS_TEST_BUSYBOX:-/bin/busybox}
  [[ -x $busybox ]] || die "$busybox not found (install busybox-static)"
  root=$("$here/make-root.sh" "$suite")
  kver=$(kernel_release "$root")
  [[ $(cat "$out/kernel-release") == "$kver" ]] || die "vexfs.ko was built for $(cat "$out/kernel-release"), kernel is $kver"

  work=$(mktemp -d)
  cleanup+=("$work")
  mkdir -p "$work"/initramfs/{bin,sbin,proc,sys,dev,tmp,mnt}
  cp "$busybox" "$work/initramfs/bin/busybox"
  for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$work/initramfs/bin/$applet"
  done
  cp "$out/vexfs.ko" "$work/initramfs/vexfs.ko"
  if [[ -x $out/vexctl ]]; then
    cp "$out/vexctl" "$work/initramfs/bin/vexctl"
    have_vexctl=1
  fi
  printf 'EXPECT_VERSION=%q\nHAVE_VEXCTL=%s\n' "$version" "$have_vexctl" >"$work/initramfs/test.env"
  install -m 0755 "$here/guest-init.sh" "$work/initramfs/init"
  initrd=$work/initramfs.cpio.gz
  (cd "$work/initramfs" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd"

  local timeout=${VEXFS_TEST_BOOT_TIMEOUT:-180} start=$SECONDS
  log "booting $kver ($suite) under QEMU/TCG (deadline ${timeout}s)"
  rc=0
  timeout --kill-after=5 "$timeout" qemu-system-x86_64 -accel tcg -m 512 -smp 1 \
    -nodefaults -nographic -serial stdio -no-reboot \
    -kernel "$root/boot/vmlinuz-$kver" -initrd "$initrd" \
    -append 'console=ttyS0 panic=-1 oops=panic panic_on_warn=1 rdinit=/init' \
    </dev/null >"$out/serial.log" 2>&1 || rc=$?
  tr -d '\r' <"$out/serial.log" >"$out/serial.tmp" && mv "$out/serial.tmp" "$out/serial.log"
  log "QEMU exited with $rc after $((SECONDS - start)) s"
  sed -n '/^VEXFS-TEST START/,/^VEXFS-TEST RESULT/p' "$out/serial.log" >&2

  [[ $rc != 124 && $rc != 137 ]] || die "timeout: QEMU killed after ${timeout}s (see $out/serial.log)"
  [[ $rc == 0 ]] || die "QEMU failed with exit code $rc (see $out/serial.log)"
  # (The guest's own lines are excluded: they may quote the kernel log on failure.)
  if grep -v -e '^VEXFS-TEST' -e '^    | ' "$out/serial.log" |
    grep -E 'Oops|BUG:|kernel BUG|WARNING:|Call Trace|Kernel panic' >&2; then
    die "kernel problems in the serial log (above)"
  fi
  if grep -q '^VEXFS-TEST FAIL' "$out/serial.log"; then
    die "guest checks failed (above)"
  fi
  grep -q '^VEXFS-TEST RESULT: PASS' "$out/serial.log" || die "no PASS result from the guest (see $out/serial.log)"
  log "OK: runtime test passed on $kver"
}

case ${1:-} in
  compile) [[ $# == 3 ]] || die "usage: $0 compile SUITE OUTDIR"; cmd_compile "$2" "$3" ;;
  vexctl) [[ $# == 2 ]] || die "usage: $0 vexctl OUTDIR"; cmd_vexctl "$2" ;;
  boot) [[ $# == 3 ]] || die "usage: $0 boot SUITE OUTDIR"; cmd_boot "$2" "$3" ;;
  *) die "usage: $0 compile SUITE OUTDIR | vexctl OUTDIR | boot SUITE OUTDIR" ;;
esac
