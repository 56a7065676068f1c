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
# Env: VEXFS_TEST_MIRROR (default http://deb.debian.org/debian), VEXFS_TEST_ROOTS (cache dir).
set -euo pipefail

suite=${1:?usage: make-root.sh SUITE}
case $suite in *[!a-z0-9-]* | '') echo "make-root.sh: bad suite name: $suite" >&2; exit 2 ;; esac

mirror=${VEXFS_TEST_MIRROR:-http://deb.debian.org/debian}
packages=linux-image-cloud-amd64,linux-headers-cloud-amd64,gcc,make,libc6-dev
cache=${VEXFS_TEST_ROOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/vexfs-image/test-roots}
# Bump the trailing "v1" when the way a root is made changes.
key="suite=$suite mirror=$mirror variant=apt packages=$packages v1"
root=$cache/$suite

mkdir -p "$cache"
exec 9>"$cache/$suite.lock"
flock 9

if [[ -f $root/.vexfs-root-key && $(cat "$root/.vexfs-root-key") == "$key" ]]; then
  echo "$root"
  exit 0
fi

command -v mmdebstrap >/dev/null || { echo "make-root.sh: mmdebstrap is not installed" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "make-root.sh: must run as root (mmdebstrap root mode, chroot)" >&2; exit 1; }

# Leftovers of interrupted builds (we hold the lock, so nobody else is building this suite).
rm -rf "$cache/.tmp-$suite".*
tmp=$(mktemp -d "$cache/.tmp-$suite.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rmdir "$tmp" # mmdebstrap wants to create the directory itself (or find it empty)

echo "make-root.sh: building $suite root (cold cache, takes a minute or two)..." >&2
start=$SECONDS
# Documentation, man pages and locales are never needed here; dropping them saves time and space.
mmdebstrap --variant=apt --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*_Packages' \
  "$suite" "$tmp" "$mirror" >&2
printf '%s\n' "$key" >"$tmp/.vexfs-root-key"

rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
echo "make-root.sh: $suite root ready in $((SECONDS - start)) s" >&2
echo "$root"
