// A local disk image given as --distro PATH: inspected with `qemu-img info`, never written.
// (QEMU opens it read-only as the backing file of the build's overlay, so its own backing chain
// is checked too: a qcow2 backed by /etc/shadow would hand that file to the guest.)
import { open, realpath, stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { checkImageChain, type CheckedImage } from '../tools/qemu-img.js';
import type { ExecOptions } from '../tools/exec.js';

export const DISK_FORMATS = ['qcow2', 'raw', 'vmdk', 'vdi', 'vhdx', 'vpc', 'qed'] as const;

/** A raw "image" is only a disk if it has a boot signature (MBR or GPT protective MBR). */
export async function hasBootSignature(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    return bytesRead === 512 && b[510] === 0x55 && b[511] === 0xaa;
  } finally {
    await fh.close();
  }
}

export type LocalImage = CheckedImage;

/** opts.cacheDir: the tool's cache, where backing files may live besides the image's own directory. */
export async function inspectLocalImage(path: string, opts: ExecOptions & { cacheDir?: string } = {}): Promise<LocalImage> {
  let abs: string;
  try {
    abs = await realpath(path);
  } catch {
    throw new UsageError(`base image ${path} does not exist`, { hint: 'give a path to a qcow2 or raw disk image, or a preset such as debian-13' });
  }
  const st = await stat(abs);
  if (!st.isFile()) throw new UsageError(`base image ${path} is not a regular file`);
  const { cacheDir, ...exec } = opts;
  const info = await checkImageChain(abs, { cacheDir }, exec);
  if (!(DISK_FORMATS as readonly string[]).includes(info.format)) {
    throw new UsageError(`${path} is a ${info.format} file, not a disk image format QEMU boots (${DISK_FORMATS.join(', ')})`);
  }
  if (info.format === 'raw' && !(await hasBootSignature(abs))) {
    throw new UsageError(`${path} is not a disk image: qemu-img reads it as raw bytes and it has no partition table or boot sector`);
  }
  return info;
}
