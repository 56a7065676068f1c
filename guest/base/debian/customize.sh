#!/bin/sh
# mmdebstrap customize hook for vexfs-image's Debian base images.
# Usage (by mmdebstrap): customize.sh ROOTDIR
# Environment (set by src/base/debian.ts):
#   VEXFS_SUITE            Debian suite, e.g. trixie
#   VEXFS_ARCH             Debian architecture: amd64 (default) or arm64
#   VEXFS_ROOT_UUID        UUID the root ext4 file system will be created with
#   VEXFS_MIRROR           e.g. http://deb.debian.org/debian
#   VEXFS_SECURITY_MIRROR  e.g. http://deb.debian.org/debian-security
# Installs the static files of rootfs/, configures apt, networking, the boot loader
# (GRUB images for BIOS and UEFI made here and written into the GPT disk by the builder;
# no grub-pc or grub-efi package), then finalises the tree like an official cloud image
# (no machine-id, host keys, logs or cloud-init state).
set -eu
root="$1"
here="$(cd "$(dirname "$0")" && pwd)"
: "${VEXFS_SUITE:?}" "${VEXFS_ROOT_UUID:?}" "${VEXFS_MIRROR:?}" "${VEXFS_SECURITY_MIRROR:?}"

# What differs per architecture (the same table as src/arch.ts): GRUB's platforms (the first a
# BIOS one when there is BIOS), its EFI platform and extra modules, the kernel's serial console.
# arm64's vmlinuz is a gzip-compressed Image: GRUB reads it through gzio.
case "${VEXFS_ARCH:-amd64}" in
  amd64) grub_platforms="i386-pc x86_64-efi"; grub_efi=x86_64-efi; grub_extra=""; console=ttyS0 ;;
  arm64) grub_platforms="arm64-efi"; grub_efi=arm64-efi; grub_extra="gzio"; console=ttyAMA0 ;;
  *) echo "customize.sh: unknown VEXFS_ARCH $VEXFS_ARCH" >&2; exit 1 ;;
esac

# Static files (cloud-init datasource list, locale, fallback DHCP network).
cp -a "$here/rootfs/." "$root/"

# apt: the suite, its updates and security, in deb822 form like Debian's cloud images.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $VEXFS_MIRROR
Suites: $VEXFS_SUITE $VEXFS_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $VEXFS_SECURITY_MIRROR
Suites: $VEXFS_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# File systems. The partition is grown by cloud-init's growpart on first boot.
cat > "$root/etc/fstab" <<FSTAB
# <file system>	<mount point>	<type>	<options>	<dump>	<pass>
UUID=$VEXFS_ROOT_UUID	/	ext4	rw,discard,errors=remount-ro	0	1
FSTAB
echo localhost > "$root/etc/hostname"

# Networking: systemd-networkd + resolved (cloud-init renders networkd files).
chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
chroot "$root" systemctl disable systemd-networkd-wait-online.service >/dev/null 2>&1 || true

# First boot under TCG emulation is slow: drop units a build or test VM has no use for.
# grub-common records boot success for a GRUB we do not manage; apt-daily* would take the
# dpkg lock while the image builder runs apt; e2scrub needs LVM.
for unit in grub-common.service e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done
# Host keys are cloud-init's job (ed25519 and ECDSA, see cloud.cfg.d/90-vexfs-image.cfg and
# sshd_config.d/10-vexfs-image-hostkeys.conf). openssh's sshd-keygen.service would run
# `ssh-keygen -A` on every first boot of the image and add an RSA key: ~8 s before sshd.
chroot "$root" systemctl mask sshd-keygen.service >/dev/null 2>&1 || true
# systemd >= 256 probes AF_VSOCK for SSH-over-vsock and logs a failure without it.
mkdir -p "$root/etc/systemd/system-generators"
ln -sf /dev/null "$root/etc/systemd/system-generators/systemd-ssh-generator"

# A small initramfs: only what finds and mounts the root disk of a QEMU (or cloud) VM.
# MODULES=most packs ~18 MB that the kernel unpacks and udev probes on every boot (~5 s
# under TCG); MODULES=dep would look at the build host's disks from this chroot.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
# Listed modules are loaded on every boot: only the virtio disk's. virtio_pci is the transport
# virtio_blk sits on: built in from Debian 13's kernel on, a module in Debian 12's (without it
# bookworm's initramfs never sees the root disk).
cat >> "$root/etc/initramfs-tools/modules" <<'MODULES'
virtio_pci
virtio_blk
MODULES
# Other clouds' disks (virtio-scsi, SCSI, NVMe, SATA/AHCI where the kernel has it): packed, loaded by udev only if such a disk is
# there (loading SCSI on every boot cost ~2 s under TCG).
cat > "$root/etc/initramfs-tools/hooks/vexfs-image-disks" <<'HOOK'
#!/bin/sh
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_scsi sd_mod nvme ahci
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/vexfs-image-disks"
# udev's hook copies the hardware database (hwdb.bin, 13.5 MB of the 34 MB initramfs): it names
# keyboards and USB devices; finding the root disk by UUID never reads it, and the root file
# system has its own. Without it GRUB reads half the bytes through the BIOS (~4 MB/s under TCG).
cat > "$root/etc/initramfs-tools/hooks/vexfs-image-no-hwdb" <<'HOOK'
#!/bin/sh
[ "$1" = prereqs ] && { echo udev; exit 0; }
rm -f "$DESTDIR/usr/lib/udev/hwdb.bin" "$DESTDIR/lib/udev/hwdb.bin"
HOOK
chmod 0755 "$root/etc/initramfs-tools/hooks/vexfs-image-no-hwdb"
chroot "$root" update-initramfs -u -k all >/dev/null
# Refuse a base whose initramfs cannot reach a virtio disk: each driver the root disk needs
# is either built into the kernel or packed in the initramfs.
for initrd in "$root"/boot/initrd.img-*; do
  kver="${initrd##*/initrd.img-}"
  packed="$(chroot "$root" lsinitramfs "/boot/initrd.img-$kver")"
  for mod in virtio_pci virtio_blk; do
    if ! grep -q "/$mod.ko" "$root/lib/modules/$kver/modules.builtin" 2>/dev/null &&
       ! printf '%s\n' "$packed" | grep -q "/$mod\.ko"; then
      echo "customize.sh: initramfs for $kver has no $mod (neither built in nor packed)" >&2
      exit 1
    fi
  done
done

# Do the first-boot "ConditionNeedsUpdate" work now (ld.so cache, journal catalog) and mark
# /etc and /var as up to date with /usr, as systemd-update-done would on first boot.
chroot "$root" ldconfig
chroot "$root" journalctl --update-catalog >/dev/null 2>&1 || true
touch -r "$root/usr" "$root/etc/.updated" "$root/var/.updated"

# Boot loader: GRUB for BIOS (core.img for the GPT's BIOS boot partition, boot.img for the
# protective MBR) and for UEFI (an x86_64-efi image the builder copies to the ESP's removable
# path EFI/BOOT/BOOTX64.EFI), written into the disk by src/base/disk.ts. Both find the root
# file system by UUID (load.cfg, embedded) whatever the disk is called under that firmware and
# bus, then read /boot/grub/grub.cfg. The ESP is not mounted: nothing in the guest updates it.
for platform in $grub_platforms; do
  mkdir -p "$root/boot/grub/$platform"
  cp "$root"/usr/lib/grub/$platform/*.mod "$root"/usr/lib/grub/$platform/*.lst "$root/boot/grub/$platform/"
done
sed -e "s/@ROOT_UUID@/$VEXFS_ROOT_UUID/g" -e "s/@CONSOLE@/$console/g" "$here/grub.cfg.in" > "$root/boot/grub/grub.cfg"
cat > "$root/boot/grub/load.cfg" <<LOADCFG
search --no-floppy --fs-uuid --set=root $VEXFS_ROOT_UUID
set prefix=(\$root)/boot/grub
LOADCFG
grub_mods="part_gpt ext2 search search_fs_uuid normal linux configfile echo test serial terminal"
if [ "$grub_efi" = x86_64-efi ]; then
  chroot "$root" grub-mkimage -O i386-pc -o /boot/grub/i386-pc/core.img -c /boot/grub/load.cfg -p /boot/grub \
    biosdisk $grub_mods
  cp "$root/usr/lib/grub/i386-pc/boot.img" "$root/boot/grub/i386-pc/boot.img"
fi
chroot "$root" grub-mkimage -O "$grub_efi" -o "/boot/grub/$grub_efi/core.efi" -c /boot/grub/load.cfg -p /boot/grub \
  fat efi_gop $grub_extra $grub_mods
# shim-signed (for Secure Boot; its binaries go to the ESP, src/base/secure-boot-esp.ts) brings
# grub2-common, whose kernel hook would run update-grub and replace the grub.cfg above on the
# next kernel install. Divert the hooks away (run-parts skips names with a dot).
for hook in postinst.d postrm.d; do
  if [ -e "$root/etc/kernel/$hook/zz-update-grub" ]; then
    chroot "$root" dpkg-divert --local --rename --divert "/etc/kernel/$hook/zz-update-grub.vexfs-disabled" "/etc/kernel/$hook/zz-update-grub" >/dev/null
  fi
done

# Finalise like an official cloud image.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed"
rm -f "$root"/etc/ssh/ssh_host_*
rm -rf "$root/var/lib/cloud/"* "$root"/var/log/cloud-init*.log
# Not /tmp, nor apt's lists and cache: mmdebstrap keeps its apt configuration (APT_CONFIG) in
# the new root's /tmp and cleans all three itself after this hook. Emptying /tmp here took that
# file away, so mmdebstrap's closing `apt-get update` and `apt-get clean` ran against the host's
# apt state and emptied the host's /var/lib/apt/lists.
rm -rf "$root/var/tmp/"*
find "$root/var/log" -type f -exec truncate -s 0 {} +
rm -f "$root/initrd.img.old" "$root/vmlinuz.old"
