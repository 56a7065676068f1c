// An image's root file system read on the host without booting or mounting it: the disk made raw
// (qemu-img convert; a raw image is used as is), its ext4 root found (the largest partition, or
// the whole disk), and its tree copied out with debugfs rdump, which keeps modes, owners (when
// run as root) and file times. What we then compare is that copy.
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { run } from '../tools/exec.js';
import { sha256File } from '../tools/hash.js';
import { imageInfo } from '../tools/qemu-img.js';

export interface TreeEntry {
  /** Absolute path inside the image, e.g. /usr/bin/vexctl. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeS: number;
  /** Symlinks: the target. */
  target?: string;
}

export interface OpenedImage {
  /** The debugfs device: a raw file, with ?offset= when the file system is a partition. */
  device: string;
  /** Removes the raw copy (when one was made). */
  close(): Promise<void>;
}

export async function checkImageFile(path: string): Promise<void> {
  if (!existsSync(path)) throw new UsageError(`image ${path} does not exist`);
  if (!(await stat(path)).isFile()) throw new UsageError(`image ${path} is not a regular file`);
}

/** The ext4 root of a disk image as a debugfs device (qcow2 converted to raw in workDir). */
export async function openImage(path: string, workDir: string, signal?: AbortSignal): Promise<OpenedImage> {
  await checkImageFile(path);
  const info = await imageInfo(path, { signal });
  // A backing file would be read too: diff standalone images only (published images are).
  if (info.backingFile) throw new UsageError(`image ${path} has a backing file (${info.backingFile}): give a standalone image`);
  let raw = path;
  let made = false;
  if (info.format !== 'raw') {
    await mkdir(workDir, { recursive: true });
    raw = join(workDir, 'disk.raw');
    await run('qemu-img', ['convert', '-U', '-f', info.format, '-O', 'raw', path, raw], { timeoutMs: 600_000, signal });
    made = true;
  }
  const close = async (): Promise<void> => {
    if (made) await rm(raw, { force: true });
  };
  try {
    const device = `${raw}?offset=${await rootOffset(raw, signal)}`;
    const r = await run('debugfs', ['-R', 'stats -h', device], { allowFailure: true, timeoutMs: 60_000, signal });
    if (r.exitCode !== 0 || !/Filesystem magic number:\s+0xEF53/.test(r.stdout)) throw new UsageError(`image ${path} has no ext2/3/4 root file system that debugfs can read`);
    return { device, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Byte offset of the largest partition, or 0 for a disk without a partition table. */
async function rootOffset(raw: string, signal?: AbortSignal): Promise<number> {
  const r = await run('sfdisk', ['--json', raw], { allowFailure: true, timeoutMs: 30_000, signal });
  if (r.exitCode !== 0 || !r.stdout.trim()) return 0;
  const pt = JSON.parse(r.stdout) as { partitiontable: { sectorsize?: number; partitions?: Array<{ start: number; size: number }> } };
  const part = [...(pt.partitiontable.partitions ?? [])].sort((a, b) => b.size - a.size)[0];
  return part ? part.start * (pt.partitiontable.sectorsize ?? 512) : 0;
}

/** Copies the whole file system out to dir (which must not exist yet). */
export async function dumpTree(img: OpenedImage, dir: string, signal?: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('debugfs', ['-R', `rdump / ${dir}`, img.device], { timeoutMs: 1_800_000, signal });
}

/** Every entry under root (lost+found excluded: mke2fs makes it, nothing in it is the image's). */
export async function listTree(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = `${rel}/${name}`;
      if (path === '/lost+found') continue;
      const st = await lstat(join(root, path));
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
      out.set(path, {
        path,
        type,
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
        size: type === 'dir' ? 0 : st.size,
        mtimeS: Math.floor(st.mtimeMs / 1000),
        ...(type === 'symlink' ? { target: await readlink(join(root, path)) } : {}),
      });
      if (type === 'dir') await walk(path);
    }
  };
  await walk('');
  return out;
}

export const fileSha256 = (root: string, path: string): Promise<string> => sha256File(join(root, path));

/** The vermagic= string in a kernel module's .modinfo (uncompressed .ko files only). */
export async function moduleVermagic(file: string): Promise<string | undefined> {
  const buf = await readFile(file);
  const i = buf.indexOf('vermagic=');
  if (i < 0) return undefined;
  const end = buf.indexOf(0, i);
  return buf.subarray(i + 'vermagic='.length, end < 0 ? undefined : end).toString('utf8');
}
