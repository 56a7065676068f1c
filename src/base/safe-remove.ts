// Removing a chroot tree safely: if a killed mmdebstrap left /proc, /sys or /dev mounted inside
// it, a plain recursive rm would walk into the host's. Unmount what is there first, and refuse
// to delete while anything stays mounted.
import { readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { lazyUnmount } from '../tools/mount.js';
import { VexfsImageError } from '../errors.js';

/** Mount points at or below dir, deepest first (octal escapes in /proc/self/mounts decoded). */
export function mountsUnder(mountsText: string, dir: string): string[] {
  const root = resolve(dir);
  const out: string[] = [];
  for (const line of mountsText.split('\n')) {
    const field = line.split(' ')[1];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp === root || mp.startsWith(`${root}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

async function currentMounts(dir: string): Promise<string[]> {
  try {
    return mountsUnder(await readFile('/proc/self/mounts', 'utf8'), dir);
  } catch {
    return [];
  }
}

export async function removeTree(dir: string): Promise<void> {
  let mounts = await currentMounts(dir);
  for (const mp of mounts) await lazyUnmount(mp);
  mounts = await currentMounts(dir);
  if (mounts.length) {
    throw new VexfsImageError('E_CLEANUP', `not removing ${dir}: still mounted inside it: ${mounts.join(', ')}`, { hint: `unmount them (umount -R ${dir}) and delete it by hand` });
  }
  await rm(dir, { recursive: true, force: true });
}
