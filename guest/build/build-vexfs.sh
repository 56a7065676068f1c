#!/bin/bash
# Builds and installs VexFS inside the build VM (runs as root).
# Usage: build-vexfs.sh SOURCE_MOUNT VERSION BUILD_COMMAND
# Copies the read-only source to /usr/src/vexfs, runs the build command, installs vexfs.ko
# under /lib/modules/<kernel>/extra/vexfs/ and vexctl in /usr/local/bin, checks that the
# module's vermagic matches the running kernel, and smoke-tests it.
# The last lines are "result.<key>=<value>" for the host to record in the manifest.
set -euo pipefail
src="$1" version="$2" build_cmd="$3"
dest=/usr/src/vexfs
kernel="$(uname -r)"

echo "==> copying source to $dest"
rm -rf "$dest"
mkdir -p "$dest"
tar -C "$src" --exclude=.git --exclude=./target --exclude=./vexctl/target -cf - . | tar -C "$dest" -xf -

echo "==> building: $build_cmd (VERSION=$version, kernel $kernel)"
cd "$dest"
export VERSION="$version" VEXFS_VERSION="$version" KDIR="/lib/modules/$kernel/build"
# Debian's cargo: offline, no network needed for a std-only crate.
export CARGO_HOME=/root/.cargo CARGO_NET_OFFLINE=true
# Parallel make (as debuild's parallel=N does): the module and vexctl are independent targets,
# and under emulation each vCPU left idle costs about a minute. A MAKEFLAGS of the caller wins.
export MAKEFLAGS="${MAKEFLAGS:--j$(nproc)}"
bash -c "$build_cmd"

ko="$(find "$dest" -name vexfs.ko -not -path '*/target/*' | head -n1)"
ctl="$(find "$dest" -path '*/release/vexctl' -type f | head -n1)"
[ -n "$ko" ] || { echo "build produced no vexfs.ko" >&2; exit 1; }
[ -n "$ctl" ] || { echo "build produced no vexctl binary (expected .../release/vexctl)" >&2; exit 1; }

vermagic="$(modinfo -F vermagic "$ko")"
if [ "${vermagic%% *}" != "$kernel" ]; then
  echo "vermagic mismatch: module built for '${vermagic%% *}', image runs '$kernel'" >&2
  exit 1
fi

echo "==> installing"
install -D -m 0644 "$ko" "/lib/modules/$kernel/extra/vexfs/vexfs.ko"
install -D -m 0755 "$ctl" /usr/local/bin/vexctl
depmod -a "$kernel"

echo "==> smoke test"
modprobe vexfs
lsmod | grep -q '^vexfs ' || { echo "vexfs not listed by lsmod after modprobe" >&2; exit 1; }
got="$(/usr/local/bin/vexctl --version)"
[ "$got" = "vexctl $version" ] || { echo "vexctl --version printed '$got', expected 'vexctl $version'" >&2; exit 1; }
rmmod vexfs

echo "result.kernel=$kernel"
echo "result.vermagic=$vermagic"
echo "result.module_sha256=$(sha256sum "/lib/modules/$kernel/extra/vexfs/vexfs.ko" | cut -d' ' -f1)"
echo "result.vexctl_sha256=$(sha256sum /usr/local/bin/vexctl | cut -d' ' -f1)"
echo "result.module_version=$(modinfo -F version "/lib/modules/$kernel/extra/vexfs/vexfs.ko")"
