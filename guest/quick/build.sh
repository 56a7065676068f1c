#!/bin/bash
# Runs inside the image's own root (chroot, on the host: src/quick/compile.ts): the payload's
# build command against the image's kernel headers, as guest/build/build-payload.sh runs it in
# the build VM, then reports what the quick test's initramfs needs, one line each:
#   QUICK-FOUND module|tool NAME PATH      the first match of the payload's glob
#   QUICK-LIB PATH                         a shared library a tool needs (ldd)
# Usage: build.sh WORKDIR KERNEL_RELEASE VERSION BUILD_COMMAND SPEC
#   SPEC lines:  module NAME GLOB  |  tool NAME GLOB
set -euo pipefail
workdir=$1 kernel=$2 version=$3 build_cmd=$4 spec=$5
cd "$workdir"
export VERSION="$version" VEXFS_VERSION="$version" KDIR="/lib/modules/$kernel/build" KERNEL_RELEASE="$kernel"
export CARGO_HOME="${CARGO_HOME:-/root/.cargo}" CARGO_NET_OFFLINE=true
export MAKEFLAGS="${MAKEFLAGS:--j$(nproc)}"
[ -d "$KDIR" ] || { echo "build.sh: no kernel headers at $KDIR" >&2; exit 2; }
bash -c "$build_cmd"

shopt -s globstar nullglob
while read -r kind name glob; do
  [ -n "$kind" ] || continue
  # shellcheck disable=SC2206 # the glob is meant to expand
  matches=($glob)
  found=
  for m in "${matches[@]}"; do
    if [ -f "$m" ]; then found=$m; break; fi
  done
  if [ -z "$found" ]; then echo "QUICK-MISSING $kind $name $glob"; continue; fi
  echo "QUICK-FOUND $kind $name $workdir/$found"
  if [ "$kind" = tool ]; then
    ldd "$found" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print "QUICK-LIB " $i }' || true
  fi
done <<<"$spec"
