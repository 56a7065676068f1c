// Snapshots of a booted VM (issue 16's first candidate): a VM that has booted and finished
// cloud-init is saved once (its machine state as a QEMU migration stream, its disk as a qcow2
// over the base, the seed and SSH key it was booted with), and later VMs of the same kind resume
// it in seconds instead of booting for ~45 s under TCG.
//
// <cache>/snapshots/<key>/ entry.json, state, disk.qcow2, seed.iso, id_ed25519(.pub). The key is
// everything that made the saved VM (the caller's description: base, machine, seed) plus QEMU's
// version and this file's layout version: QEMU restores a state only into the same machine. An
// entry is used only when its entry.json is of this format and key, every file has the recorded
// size and sha256 and the base its disk is backed by still exists; anything else is never used
// and is replaced by the next save. Readers hold a shared lock for as long as the disk backs their
// overlay; a save takes the exclusive lock without waiting (a busy entry is left as it is), writes
// into a staging directory and renames it into place, so an interrupted save leaves the entry it
// found (base/keyed-entry.ts, as builder/incremental/store.ts).
import { chmod, copyFile, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock, type Lock } from '../base/lock.js';
import { removeTree } from '../base/safe-remove.js';
import { entryDirOf, lockPathOf, openKeyed, writeKeyed, type KeyedStore } from '../base/keyed-entry.js';
import { canonical } from '../builder/inputs.js';
import { sha256File, sha256Of } from '../tools/hash.js';
import type { RestorePoint, VmSession } from './session.js';

/** Bump when what a snapshot holds or how it is restored changes: older entries are then never used. */
export const SNAPSHOT_FORMAT = 1;
const FILES = ['state', 'disk.qcow2', 'seed.iso', 'id_ed25519', 'id_ed25519.pub'] as const;
type SnapshotFile = (typeof FILES)[number];

export interface SnapshotEntry {
  format: number;
  key: string;
  /** The instance-id whose cloud-init run the saved VM had finished. */
  instanceId: string;
  /** The file the disk is a qcow2 overlay of (it must still exist). */
  backing: string;
  createdAt: string;
  files: Record<SnapshotFile, { sha256: string; size: number }>;
}

/** The key of a snapshot of a VM made by `what` (base, machine, seed...), on this QEMU. */
export function snapshotKey(what: Record<string, unknown>, qemuVersion: string): string {
  return sha256Of(canonical({ format: SNAPSHOT_FORMAT, qemu: qemuVersion, ...what }));
}

const store = (cacheDir: string): KeyedStore => ({ root: join(cacheDir, 'snapshots'), format: SNAPSHOT_FORMAT });
export const snapshotDir = (cacheDir: string, key: string): string => entryDirOf(store(cacheDir), key);

export type OpenedSnapshot = { entry: SnapshotEntry; disk: string; restore: RestorePoint; lock: Lock } | { why: string };

/** The snapshot for key, verified, with a shared lock held until the caller releases it; or why there is none to use. */
export async function openSnapshot(cacheDir: string, key: string, opts: { signal?: AbortSignal } = {}): Promise<OpenedSnapshot> {
  const opened = await openKeyed<SnapshotEntry>(store(cacheDir), key, {
    purpose: 'resume a snapshot',
    missing: 'no snapshot of this build VM is cached yet',
    foreign: 'the cached snapshot is of another format or another VM',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if ('why' in opened) return { why: opened.why };
  const { entry, dir, lock } = opened;
  const fail = async (why: string): Promise<OpenedSnapshot> => {
    await lock.release();
    return { why };
  };
  if (!(await stat(entry.backing).catch(() => undefined))) return fail(`the snapshot's base ${entry.backing} is gone`);
  for (const f of FILES) {
    const want = entry.files?.[f];
    const st = await stat(join(dir, f)).catch(() => undefined);
    if (!want || !st || st.size !== want.size) return fail(`the snapshot's ${f} is missing or not the size recorded`);
    if ((await sha256File(join(dir, f))) !== want.sha256) return fail(`the snapshot's ${f} is not the one recorded (its sha256 differs)`);
  }
  // When it was last used, for `cache prune --older-than` (base/derived-cache.ts).
  const now = new Date();
  await utimes(join(dir, 'entry.json'), now, now).catch(() => undefined);
  const key0 = join(dir, 'id_ed25519');
  const restore: RestorePoint = {
    state: join(dir, 'state'),
    seedIso: join(dir, 'seed.iso'),
    key: { privateKeyPath: key0, publicKey: (await readFile(`${key0}.pub`, 'utf8')).trim() },
    instanceId: entry.instanceId,
  };
  return { entry, disk: join(dir, 'disk.qcow2'), restore, lock };
}

/**
 * Saves the session's running VM as the snapshot for key: pauses it, writes its state, copies its
 * overlay, seed and key, and resumes it. Returns why nothing was saved, or undefined once saved.
 * The VM is resumed whatever happens.
 */
export async function saveSnapshot(s: VmSession, cacheDir: string, key: string, opts: { timeoutMs?: number } = {}): Promise<string | undefined> {
  const { vm, overlay, seedIso, ssh, instanceId, backing } = s;
  if (!vm || !overlay || !seedIso || !ssh || !instanceId || !backing) throw new Error('saveSnapshot: the VM is not running');
  const saved = await writeKeyed(store(cacheDir), key, 'save a snapshot', async (stage) => {
    try {
      await vm.saveState(join(stage, 'state'), opts.timeoutMs ?? 120_000);
      // Paused and migrated: QEMU has flushed and let go of the overlay, so the copy is the disk
      // the state belongs to.
      await copyFile(overlay, join(stage, 'disk.qcow2'));
    } finally {
      await vm.resume();
    }
    await copyFile(seedIso, join(stage, 'seed.iso'));
    await copyFile(ssh.key.privateKeyPath, join(stage, 'id_ed25519'));
    await chmod(join(stage, 'id_ed25519'), 0o600);
    await writeFile(join(stage, 'id_ed25519.pub'), `${ssh.key.publicKey}\n`);
    const files = {} as SnapshotEntry['files'];
    for (const f of FILES) files[f] = { sha256: await sha256File(join(stage, f)), size: (await stat(join(stage, f))).size };
    const entry: SnapshotEntry = { format: SNAPSHOT_FORMAT, key, instanceId, backing: backing.path, createdAt: new Date().toISOString(), files };
    await writeFile(join(stage, 'entry.json'), `${JSON.stringify(entry, null, 1)}\n`);
  });
  return saved ? undefined : 'another build is using or saving this snapshot';
}

/** Removes the snapshot for key (one that would not resume), unless a build is using it. */
export async function dropSnapshot(cacheDir: string, key: string): Promise<boolean> {
  const lock = await acquireLock(lockPathOf(store(cacheDir), key), { mode: 'exclusive', timeoutMs: 0, purpose: 'drop a snapshot' });
  if (!lock) return false;
  try {
    await removeTree(snapshotDir(cacheDir, key));
    return true;
  } finally {
    await lock.release();
  }
}
