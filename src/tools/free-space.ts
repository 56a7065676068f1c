// Free space where a job will write, checked before anything starts: a build that would fill the
// disk fails at once with the numbers, not after minutes of VM time with ENOSPC.
import { stat, statfs } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { formatBytes } from '../ui/format.js';

/** The path itself, or its nearest ancestor that exists (where mkdir -p would create it). */
function existingAncestor(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(existingAncestor(path));
  return s.bavail * s.bsize;
}

export interface SpaceNeed {
  path: string;
  bytes: number;
  /** What goes there, e.g. "the image and its .gz". */
  what: string;
  /** The flag that moves it, e.g. --output-dir. */
  flag: string;
}

/**
 * Exit 2 when a file system lacks the space the job will write there; needs on one file system
 * add up. A rough floor, not a promise: a full disk later still fails cleanly (atomic publish).
 */
export async function assertFreeSpace(needs: readonly SpaceNeed[]): Promise<void> {
  const byDevice = new Map<number, { free: number; needs: SpaceNeed[] }>();
  for (const n of needs) {
    const at = existingAncestor(n.path);
    const dev = (await stat(at)).dev;
    const entry = byDevice.get(dev) ?? { free: await freeBytes(at), needs: [] };
    entry.needs.push(n);
    byDevice.set(dev, entry);
  }
  for (const { free, needs: on } of byDevice.values()) {
    const total = on.reduce((a, n) => a + n.bytes, 0);
    if (free >= total) continue;
    const parts = on.map((n) => `${n.what} in ${n.path} (${formatBytes(n.bytes)})`).join(' and ');
    throw new UsageError(`not enough disk space: ${formatBytes(free)} free where ${parts} will go`, {
      hint: `free some space, or pass another ${on.map((n) => n.flag).join(' / ')}`,
    });
  }
}
