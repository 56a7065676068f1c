// sfdisk: a partition table written into a disk image file (the kernel is never told: there is
// no block device).
import { VexfsImageError } from '../errors.js';
import { run, type ExecOptions } from './exec.js';

export async function partitionImage(image: string, script: string, opts: ExecOptions = {}): Promise<void> {
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], { timeoutMs: 60_000, ...opts, input: script });
}

/** sfdisk --verify: throws unless the table (with GPT: both copies) is consistent. */
export async function verifyPartitionTable(image: string, opts: ExecOptions = {}): Promise<void> {
  const r = await run('sfdisk', ['--verify', image], { timeoutMs: 60_000, ...opts, allowFailure: true });
  if (r.exitCode !== 0 || !/No errors detected/.test(r.stdout)) {
    throw new VexfsImageError('E_DISK', `the partition table of ${image} does not verify: ${(r.stdout + r.stderr).trim().split('\n').slice(0, 5).join('; ')}`);
  }
}

export interface PartitionEntry {
  start: number;
  size: number;
  type: string;
}

/** `sfdisk -J` of an image file: its sector size and partitions (start and size in sectors). */
export function parsePartitionTable(json: string): { sectorSize: number; partitions: PartitionEntry[] } {
  const t = (JSON.parse(json) as { partitiontable?: { sectorsize?: number; partitions?: PartitionEntry[] } }).partitiontable;
  return { sectorSize: t?.sectorsize ?? 512, partitions: t?.partitions ?? [] };
}

export async function readPartitionTable(image: string, opts: ExecOptions = {}): Promise<{ sectorSize: number; partitions: PartitionEntry[] }> {
  return parsePartitionTable((await run('sfdisk', ['-J', image], { timeoutMs: 60_000, ...opts })).stdout);
}
