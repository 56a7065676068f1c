#!/bin/sh
# mmdebstrap setup hook for vexfs-image's Debian base images, run before any package is
# installed. Usage (by mmdebstrap): setup.sh ROOTDIR
# The kernel package's postinst makes an initramfs with initramfs-tools' default MODULES=most
# (thousands of modules copied, one process each), which customize.sh then replaces with a small
# one anyway. Under qemu-user (a foreign-architecture base, src/tools/binfmt.ts) every one of
# those processes is emulated: minutes for nothing. The first one is small too.
set -eu
mkdir -p "$1/etc/initramfs-tools/conf.d"
echo 'MODULES=list' > "$1/etc/initramfs-tools/conf.d/vexfs-image.conf"
