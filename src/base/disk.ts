// A raw disk that boots with BIOS and with UEFI, from a root directory, without loop devices or
// mounts: a GPT written by sfdisk on the file (a BIOS boot partition, an EFI system partition,
// the root), an ext4 file system written by `mke2fs -d` straight at the root's offset, the ESP
// as FAT made at its offset (tools/fat.ts) holding GRUB's x86_64-efi image at the removable path
// EFI/BOOT/BOOTX64.EFI, and GRUB for BIOS embedded by hand: boot.img's first 440 bytes in the
// protective MBR, core.img in the BIOS boot partition, both patched for where core.img really
// starts. That is what grub-install does (for the BIOS part) without needing a block device.
import { open, readFile, truncate } from 'node:fs/promises';
import type { ExecOptions } from '../tools/exec.js';
import { makeFatWithFiles } from '../tools/fat.js';
import { makeExt4, mke2fsArgs as ext4Args, type Ext4FromDir } from '../tools/mke2fs.js';
import { partitionImage, verifyPartitionTable } from '../tools/sfdisk.js';
import { VexfsImageError } from '../errors.js';

export const SECTOR = 512;
/** Bumped with the layout below: a base with another layout is never taken for this one. */
export const DISK_LAYOUT = 'gpt-biosboot-esp-root-v1';
/** Partitions on 1 MiB boundaries, like every partitioning tool since 2010. */
const ALIGN_SECTORS = 2048;
/** GRUB's core.img (~60 KiB with the modules below) goes here; 1 MiB is what Debian's installer makes. */
export const BIOS_BOOT = Object.freeze({ startSector: 2048, sectors: 2048 });
/** 64 MiB of FAT32 with 512-byte clusters (the least FAT32 allows is 65525 clusters). */
export const ESP = Object.freeze({ startSector: 4096, sectors: 131072 });
export const ROOT_START_SECTOR = ESP.startSector + ESP.sectors;
/** The backup GPT at the end of the disk: 32 sectors of partition entries and the header. */
const GPT_BACKUP_SECTORS = 33;
export const FS_BLOCK_SIZE = 4096;
/** Bytes of GRUB's boot.img that go into the MBR: the rest is the partition table and signature. */
export const MBR_BOOT_CODE_BYTES = 440;
/** GPT partition types. */
export const PART_TYPES = Object.freeze({
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
});
/** Where UEFI firmware looks on a disk without boot entries (what clouds and fresh VMs have). */
export const EFI_REMOVABLE_PATH = 'EFI/BOOT/BOOTX64.EFI';

export interface DiskLayout {
  diskBytes: number;
  /** The root partition (the last one, so cloud-init's growpart can grow it). */
  partitionStartBytes: number;
  partitionBytes: number;
  fsBlocks: number;
}

export function diskLayout(diskBytes: number): DiskLayout {
  if (diskBytes % (1024 * 1024) !== 0) throw new VexfsImageError('E_DISK', `disk size must be a whole number of MiB, got ${diskBytes}`);
  const lastUsable = diskBytes / SECTOR - GPT_BACKUP_SECTORS - 1;
  const rootSectors = Math.floor((lastUsable - ROOT_START_SECTOR + 1) / ALIGN_SECTORS) * ALIGN_SECTORS;
  if (rootSectors < ALIGN_SECTORS) throw new VexfsImageError('E_DISK', `disk of ${diskBytes} bytes has no room for a root partition`);
  const partitionStartBytes = ROOT_START_SECTOR * SECTOR;
  const partitionBytes = rootSectors * SECTOR;
  return { diskBytes, partitionStartBytes, partitionBytes, fsBlocks: Math.floor(partitionBytes / FS_BLOCK_SIZE) };
}

/** sfdisk script: BIOS boot partition, ESP, root (last, so it can grow). */
export function sfdiskScript(layout: DiskLayout): string {
  return [
    'label: gpt',
    'unit: sectors',
    `start=${BIOS_BOOT.startSector}, size=${BIOS_BOOT.sectors}, type=${PART_TYPES.biosBoot}, name="bios-boot"`,
    `start=${ESP.startSector}, size=${ESP.sectors}, type=${PART_TYPES.esp}, name="efi"`,
    `start=${ROOT_START_SECTOR}, size=${layout.partitionBytes / SECTOR}, type=${PART_TYPES.linux}, name="root"`,
    '',
  ].join('\n');
}

/** The root file system at the partition's offset (the host's mke2fs.conf ext4 defaults, which
 * on Debian 12 mean no orphan_file or metadata_csum_seed: GRUB 2.06+ and Linux 6.1+ read them). */
export function rootFs(o: { image: string; rootDir: string; uuid: string; label: string; layout: DiskLayout }): Ext4FromDir {
  return { image: o.image, dir: o.rootDir, label: o.label, uuid: o.uuid, blockSize: FS_BLOCK_SIZE, offsetBytes: o.layout.partitionStartBytes, size: o.layout.fsBlocks };
}

export const mke2fsArgs = (o: Parameters<typeof rootFs>[0]): string[] => ext4Args(rootFs(o));

/** boot.img: the 64-bit LBA of core.img's first sector (GRUB_BOOT_MACHINE_KERNEL_SECTOR). */
const BOOT_KERNEL_SECTOR_OFFSET = 0x5c;
/** diskboot.img (core.img's first sector) ends in a 12-byte block list: start LBA (8), length (2), segment (2). */
const DISKBOOT_BLOCKLIST_START_OFFSET = SECTOR - 12;

/**
 * boot.img and core.img patched for core.img at startSector: boot.img loads core.img's first
 * sector (diskboot) from there, diskboot loads the rest from the next sector on. GRUB's
 * defaults (sector 1, then 2: the MBR gap) are checked first, so a GRUB that lays them out
 * differently fails here rather than at boot.
 */
export function patchBiosBootImages(bootImg: Buffer, coreImg: Buffer, startSector: number): { boot: Buffer; core: Buffer } {
  if (bootImg.length !== SECTOR) throw new VexfsImageError('E_DISK', `GRUB boot.img must be ${SECTOR} bytes, got ${bootImg.length}`);
  if (coreImg.length < SECTOR) throw new VexfsImageError('E_DISK', `GRUB core.img is ${coreImg.length} bytes, less than its first sector`);
  const boot = Buffer.from(bootImg);
  const core = Buffer.from(coreImg);
  const kernelSector = boot.readBigUInt64LE(BOOT_KERNEL_SECTOR_OFFSET);
  const listStart = core.readBigUInt64LE(DISKBOOT_BLOCKLIST_START_OFFSET);
  if (kernelSector !== 1n || listStart !== 2n) {
    throw new VexfsImageError('E_DISK', `GRUB boot.img/core.img do not have the expected defaults (kernel sector ${kernelSector}, block list start ${listStart}; expected 1 and 2)`);
  }
  boot.writeBigUInt64LE(BigInt(startSector), BOOT_KERNEL_SECTOR_OFFSET);
  core.writeBigUInt64LE(BigInt(startSector + 1), DISKBOOT_BLOCKLIST_START_OFFSET);
  return { boot, core };
}

/**
 * Writes GRUB's boot.img (first 440 bytes, keeping the protective MBR's partition table) into
 * sector 0 and core.img into the BIOS boot partition, both patched for that place.
 */
export async function installBiosBootloader(image: string, bootImg: Buffer, coreImg: Buffer): Promise<void> {
  const room = BIOS_BOOT.sectors * SECTOR;
  if (coreImg.length > room) {
    throw new VexfsImageError('E_DISK', `GRUB core.img is ${coreImg.length} bytes, more than the ${room} bytes of the BIOS boot partition`);
  }
  const { boot, core } = patchBiosBootImages(bootImg, coreImg, BIOS_BOOT.startSector);
  const fh = await open(image, 'r+');
  try {
    await fh.write(boot, 0, MBR_BOOT_CODE_BYTES, 0);
    await fh.write(core, 0, core.length, BIOS_BOOT.startSector * SECTOR);
  } finally {
    await fh.close();
  }
}

export interface RawDiskInput {
  image: string;
  rootDir: string;
  uuid: string;
  diskBytes: number;
  /** GRUB's i386-pc boot.img and core.img; absent for an architecture without BIOS (arm64). */
  bootImgPath?: string;
  coreImgPath?: string;
  /** GRUB's EFI image: copied to the ESP's removable path. */
  efiImgPath: string;
  /** Where on the ESP (default EFI_REMOVABLE_PATH, x86_64's; arm64's is EFI/BOOT/BOOTAA64.EFI). */
  efiRemovablePath?: string;
  /**
   * The ESP's files instead ([host path, path on the ESP]): the Secure Boot chain (secure-boot-esp.ts),
   * shim at the removable path with Debian's signed GRUB beside it.
   */
  espFiles?: ReadonlyArray<[string, string]>;
  /** The ESP's FAT serial number (8 hex digits). */
  espVolumeId: string;
}

export async function makeBootableRawDisk(i: RawDiskInput, opts: ExecOptions = {}): Promise<void> {
  const layout = diskLayout(i.diskBytes);
  await (await open(i.image, 'w')).close();
  await truncate(i.image, i.diskBytes); // sparse
  await partitionImage(i.image, sfdiskScript(layout), opts);
  await makeExt4(rootFs({ image: i.image, rootDir: i.rootDir, uuid: i.uuid, label: 'root', layout }), opts);
  await makeFatWithFiles(
    { image: i.image, offsetSectors: ESP.startSector, sizeKiB: (ESP.sectors * SECTOR) / 1024, label: 'EFI', volumeId: i.espVolumeId },
    i.espFiles ?? [[i.efiImgPath, i.efiRemovablePath ?? EFI_REMOVABLE_PATH]],
    opts,
  );
  // Without BIOS images the BIOS boot partition stays empty: one layout for every architecture.
  if (i.bootImgPath && i.coreImgPath) await installBiosBootloader(i.image, await readFile(i.bootImgPath), await readFile(i.coreImgPath));
  // Nothing written after the table may have touched it (the backup GPT sits after the root).
  await verifyPartitionTable(i.image, opts);
}
