// A bootable raw disk from a root directory, without loop devices or mounts: an MBR partition
// table written by sfdisk on the file, an ext4 file system written by `mke2fs -d` straight at
// the partition's offset, and GRUB for BIOS embedded by hand (boot.img's first 440 bytes in
// the MBR, core.img in the gap before the first partition), which is what grub-install does.
import { open, readFile, truncate } from 'node:fs/promises';
import type { ExecOptions } from '../tools/exec.js';
import { makeExt4, mke2fsArgs as ext4Args, type Ext4FromDir } from '../tools/mke2fs.js';
import { partitionImage } from '../tools/sfdisk.js';
import { VexfsImageError } from '../errors.js';

export const SECTOR = 512;
/** First partition at 1 MiB, like every partitioning tool since 2010; GRUB's core.img lives before it. */
export const PARTITION_START_SECTOR = 2048;
export const FS_BLOCK_SIZE = 4096;
/** Bytes of GRUB's boot.img that go into the MBR: the rest is the partition table and signature. */
export const MBR_BOOT_CODE_BYTES = 440;

export interface DiskLayout {
  diskBytes: number;
  partitionStartBytes: number;
  partitionBytes: number;
  fsBlocks: number;
}

export function diskLayout(diskBytes: number): DiskLayout {
  if (diskBytes % (1024 * 1024) !== 0) throw new VexfsImageError('E_DISK', `disk size must be a whole number of MiB, got ${diskBytes}`);
  const partitionStartBytes = PARTITION_START_SECTOR * SECTOR;
  const partitionBytes = diskBytes - partitionStartBytes;
  return { diskBytes, partitionStartBytes, partitionBytes, fsBlocks: Math.floor(partitionBytes / FS_BLOCK_SIZE) };
}

/** sfdisk script: one bootable Linux partition from 1 MiB to the end of the disk. */
export function sfdiskScript(): string {
  return `label: dos\nstart=${PARTITION_START_SECTOR}, type=83, bootable\n`;
}

/** The root file system at the partition's offset (the host's mke2fs.conf ext4 defaults, which
 * on Debian 12 mean no orphan_file or metadata_csum_seed: GRUB 2.06+ and Linux 6.1+ read them). */
export function rootFs(o: { image: string; rootDir: string; uuid: string; label: string; layout: DiskLayout }): Ext4FromDir {
  return { image: o.image, dir: o.rootDir, label: o.label, uuid: o.uuid, blockSize: FS_BLOCK_SIZE, offsetBytes: o.layout.partitionStartBytes, size: o.layout.fsBlocks };
}

export const mke2fsArgs = (o: Parameters<typeof rootFs>[0]): string[] => ext4Args(rootFs(o));

/**
 * Writes GRUB's boot.img (first 440 bytes, keeping the partition table) into sector 0 and
 * core.img from sector 1. boot.img's default kernel sector is 1 and diskboot.img's default
 * block list starts at sector 2, which is exactly where this puts them, so nothing is patched.
 */
export async function installBiosBootloader(image: string, bootImg: Buffer, coreImg: Buffer): Promise<void> {
  if (bootImg.length !== SECTOR) throw new VexfsImageError('E_DISK', `GRUB boot.img must be ${SECTOR} bytes, got ${bootImg.length}`);
  const gap = (PARTITION_START_SECTOR - 1) * SECTOR;
  if (coreImg.length > gap) {
    throw new VexfsImageError('E_DISK', `GRUB core.img is ${coreImg.length} bytes, more than the ${gap} bytes before the first partition`);
  }
  const fh = await open(image, 'r+');
  try {
    await fh.write(bootImg, 0, MBR_BOOT_CODE_BYTES, 0);
    await fh.write(coreImg, 0, coreImg.length, SECTOR);
  } finally {
    await fh.close();
  }
}

export interface RawDiskInput {
  image: string;
  rootDir: string;
  uuid: string;
  diskBytes: number;
  bootImgPath: string;
  coreImgPath: string;
}

export async function makeBootableRawDisk(i: RawDiskInput, opts: ExecOptions = {}): Promise<void> {
  const layout = diskLayout(i.diskBytes);
  await (await open(i.image, 'w')).close();
  await truncate(i.image, i.diskBytes); // sparse
  await partitionImage(i.image, sfdiskScript(), opts);
  await makeExt4(rootFs({ image: i.image, rootDir: i.rootDir, uuid: i.uuid, label: 'root', layout }), opts);
  await installBiosBootloader(i.image, await readFile(i.bootImgPath), await readFile(i.coreImgPath));
}
