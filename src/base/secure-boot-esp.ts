// The ESP of a base that boots with UEFI Secure Boot: Debian's shim (signed by Microsoft's UEFI CA,
// which OVMF's MS-key variable store trusts) at the removable path, Debian's signed monolithic
// GRUB beside it as grubx64.efi (the name shim loads), MokManager as mmx64.efi (shim starts it only
// when a MOK request is pending), and a grub.cfg that sends GRUB to the root's /boot/grub/grub.cfg.
// Why that grub.cfg works: the signed GRUB's built-in config (read from the binary, grub 2.06-13)
// tries $prefix (/EFI/debian, absent here), then ($root)/boot/grub on the ESP, then sources
// $cmdpath/grub.cfg, i.e. EFI/BOOT/grub.cfg. No fbx64.efi: shim would run the fallback loader,
// which writes boot entries and resets the machine. Without Secure Boot the same chain boots too.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EFI_REMOVABLE_PATH } from './disk.js';
import { archSpec } from '../arch.js';

/** Where the Debian packages shim-signed and grub-efi-amd64-signed put the signed binaries. */
export const SIGNED_BOOT_FILES = Object.freeze({
  shim: 'usr/lib/shim/shimx64.efi.signed',
  mokManager: 'usr/lib/shim/mmx64.efi.signed',
  grub: 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed',
});

/** The Debian packages that bring them (preinstalled in the bases of signed amd64 images: src/arch.ts, config/load.ts). */
export const SIGNED_BOOT_PACKAGES: readonly string[] = archSpec('amd64').secureBootPackages;

export function espGrubCfg(rootUuid: string): string {
  return [
    '# Written by vexfs-image (src/base/secure-boot-esp.ts). Debian\'s signed GRUB, loaded by shim from',
    '# EFI/BOOT, reads this through its built-in $cmdpath/grub.cfg fallback.',
    `search --no-floppy --fs-uuid --set=root ${rootUuid}`,
    'set prefix=($root)/boot/grub',
    'configfile $prefix/grub.cfg',
    '',
  ].join('\n');
}

/**
 * The ESP's files for the shim chain, or undefined when the root has no signed shim and GRUB
 * (another architecture, a package set without them): the plain GRUB image is used then.
 */
export async function secureBootEspFiles(rootDir: string, rootUuid: string, workDir: string): Promise<Array<[string, string]> | undefined> {
  const p = (rel: string): string => join(rootDir, rel);
  if (!existsSync(p(SIGNED_BOOT_FILES.shim)) || !existsSync(p(SIGNED_BOOT_FILES.grub))) return undefined;
  const cfg = join(workDir, 'esp-grub.cfg');
  await writeFile(cfg, espGrubCfg(rootUuid));
  const dir = EFI_REMOVABLE_PATH.slice(0, EFI_REMOVABLE_PATH.lastIndexOf('/'));
  const files: Array<[string, string]> = [
    [p(SIGNED_BOOT_FILES.shim), EFI_REMOVABLE_PATH],
    [p(SIGNED_BOOT_FILES.grub), `${dir}/grubx64.efi`],
    [cfg, `${dir}/grub.cfg`],
  ];
  if (existsSync(p(SIGNED_BOOT_FILES.mokManager))) files.push([p(SIGNED_BOOT_FILES.mokManager), `${dir}/mmx64.efi`]);
  return files;
}
