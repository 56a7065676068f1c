#!/bin/bash
# Build (or reuse) a cached throw-away Debian root holding one suite's cloud kernel, its
# matching headers and that suite's compiler, for compiling and boot-testing the example
# VexFS module against a real distribution kernel.
#
# Usage: make-root.sh SUITE            (bookworm, trixie, ...)
# Prints the root's path on stdout; progress goes to stderr.
#
# Cache: ${XDG_CACHE_HOME:-$HOME/.cache}/vexfs-image/test-roots/SUITE/, keyed by suite,
# mirror and package list (the key is stored in SUITE/.vexfs-root-key). A root is built into
# a temporary directory next to it and renamed into place only once mmdebstrap succeeded,
# so an interrupted build is never used. Concurrent callers serialise on a lock file.
# A root older than VEXFS_TEST_ROOT_MAX_AGE_DAYS (default 30) is rebuilt, so that the
# tests follow Debian's kernel updates.
# The root includes SUITE-updates and SUITE-security, so its kernel is the one a freshly
# installed Debian (the pipeline's images) runs.
# Env: VEXFS_TEST_MIRROR (default http://deb.debian.org/debian),
#      VEXFS_TEST_SECURITY_MIRROR (default http://deb.debian.org/debian-security; empty: none),
#      VEXFS_TEST_ROOTS (cache dir).
set -euo pipefail

suite=${1:?usage: make-root.sh SUITE}
case $suite in *[!a-z0-9-]* | '') echo "make-root.sh: bad suite name: $suite" >&2; exit 2 ;; esac

mirror=${VEXFS_TEST_MIRROR:-http://deb.debian.org/debian}
security=${VEXFS_TEST_SECURITY_MIRROR-http://deb.debian.org/debian-security}
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main")
[[ -z $security ]] || sources+=("deb $security $suite-security main")
packages=linux-image-cloud-amd64,linux-headers-cloud-amd64,gcc,make,libc6-dev
cache=${VEXFS_TEST_ROOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/vexfs-image/test-roots}
# Bump the trailing "v2" when the way a root is made changes.
key="suite=$suite sources=${sources[*]} variant=apt packages=$packages v3"
root=$cache/$suite

mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock 9

max_age=${VEXFS_TEST_ROOT_MAX_AGE_DAYS:-30}
if [[ -f $root/.vexfs-root-key && $(cat "$root/.vexfs-root-key") == "$key" ]] &&
  [[ -n $(find "$root/.vexfs-root-key" -mtime "-$max_age") ]]; then
  echo "$root"
  exit 0
fi

command -v mmdebstrap >/dev/null || { echo "make-root.sh: mmdebstrap is not installed" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "make-root.sh: must run as root (mmdebstrap root mode, chroot)" >&2; exit 1; }

# remove_tree DIR: delete a (partial) root. An mmdebstrap that was killed can leave /proc,
# /sys or /dev mounted inside it: unmount those first, and never cross into another file
# system while deleting.
remove_tree() {
  local dir=$1 m
  [[ -e $dir ]] || return 0
  awk -v p="$dir/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system -- "$dir"
}

# Leftovers of interrupted builds (we hold the lock, so nobody else is building this suite).
for old in "$cache/.tmp-$suite".*; do remove_tree "$old"; done
tmp=$(mktemp -d "$cache/.tmp-$suite.XXXXXX")
trap 'remove_tree "$tmp"' EXIT
rmdir "$tmp" # mmdebstrap wants to create the directory itself (or find it empty)

echo "make-root.sh: building $suite root (cold cache, takes a minute or two)..." >&2
start=$SECONDS
# Documentation, man pages and locales are never needed here; nor is an initrd for the
# kernel (the tests boot it with their own): dropping the kernel's initramfs hook saves
# ~15 s per root.
# shellcheck disable=SC2016 # $1 is expanded by the hook, not here
mmdebstrap --variant=apt --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/etc/kernel/postinst.d/initramfs-tools' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages' \
  "$suite" "$tmp" "${sources[@]}" >&2
printf '%s\n' "$key" >"$tmp/.vexfs-root-key"

remove_tree "$root"
mv "$tmp" "$root"
trap - EXIT
echo "make-root.sh: $suite root ready in $((SECONDS - start)) s" >&2
echo "$root"
