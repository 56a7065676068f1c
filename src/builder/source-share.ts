// The source goes to the guest read-only: as the spec's -virtfs share, and, for guest kernels
// without 9p (Debian's cloud kernel), as a read-only ext4 disk made with `mke2fs -d`.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeExt4 } from '../tools/mke2fs.js';
import type { Step } from '../pipeline/step.js';
import { SOURCE_DISK_SERIAL, SOURCE_MOUNT_TAG, type BuildContext } from './context.js';

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeBytes(p);
    else total += (await lstat(p)).size + 4096;
  }
  return total + 4096;
}

export function sourceDiskSizeBytes(treeSize: number): number {
  const mib = 2 ** 20;
  // ext4 metadata and journal: 25% headroom plus 32 MiB, rounded up to whole MiB.
  return Math.ceil((treeSize * 1.25 + 32 * mib) / mib) * mib;
}

export const sourceShareStep: Step<BuildContext> = {
  name: 'source-share',
  title: 'Read-only source share',
  // A snapshotable VM gets the source as a tar stream instead (build-in-vm, builder/warm-start.ts).
  skip: (ctx) => (ctx.warm ? 'the source goes in over SSH' : undefined),
  async run(ctx, rt) {
    const size = sourceDiskSizeBytes(await treeBytes(ctx.plan.sourceDir));
    const disk = join(ctx.vmDir, 'source.ext4');
    await makeExt4({ image: disk, dir: ctx.plan.sourceDir, label: 'vexfs-src', journal: false, size: Math.round(size / 1024) }, { signal: rt.signal, logFile: rt.logFile, timeoutMs: 300_000 });
    // Both read-only: the guest mounts whichever its kernel supports (guest/build/mount-source.sh).
    ctx.session.extraDrives.push({ file: disk, format: 'raw', readOnly: true, serial: SOURCE_DISK_SERIAL });
    ctx.session.virtfs.push({ path: ctx.plan.sourceDir, mountTag: SOURCE_MOUNT_TAG, readOnly: true });
  },
};
