// mke2fs: an ext4 file system filled from a directory (`-d`), written into a file — at an offset
// inside a partitioned disk (bases) or as the whole file (the build's read-only source disk).
// No loop devices, no mounts. The argument builder is pure and unit-tested.
import { run, type ExecOptions } from './exec.js';

export interface Ext4FromDir {
  image: string;
  /** The tree that becomes the file system's contents. */
  dir: string;
  label: string;
  uuid?: string;
  blockSize?: number;
  /** Where the file system starts inside image (a partition), in bytes. */
  offsetBytes?: number;
  /** Size: in blocks of blockSize, or in KiB when no blockSize is given. */
  size: number;
  /** A journal costs 32 MiB and a read-only disk never needs one. */
  journal?: boolean;
}

export function mke2fsArgs(s: Ext4FromDir): string[] {
  const a = ['-q', '-F', '-t', 'ext4'];
  if (s.journal === false) a.push('-O', '^has_journal');
  if (s.blockSize) a.push('-b', String(s.blockSize));
  a.push('-L', s.label);
  if (s.uuid) a.push('-U', s.uuid);
  a.push('-d', s.dir);
  if (s.offsetBytes !== undefined) a.push('-E', `offset=${s.offsetBytes}`);
  a.push(s.image, s.blockSize ? String(s.size) : `${s.size}k`);
  return a;
}

export async function makeExt4(s: Ext4FromDir, opts: ExecOptions = {}): Promise<void> {
  await run('mke2fs', mke2fsArgs(s), { timeoutMs: 600_000, ...opts });
}
