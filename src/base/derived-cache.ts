// What the cache holds besides base images, derived from them by builds and tests, for
// `cache list|prune`: build VM snapshots (vm/snapshot.ts), incremental-build images and the host's
// build trees (builder/incremental/), and kernel roots extracted from bases (quick/root.ts). Each
// family keeps one directory per key and the same lock file names under its .locks/ as its own
// store, so prune removes an entry only under that lock, taken without waiting: an entry a build is
// using is kept and reported. Entries are judged by age only (each store verifies its own before
// use).
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { du } from './cache.js';
import { acquireLock } from './lock.js';
import { removeTree } from './safe-remove.js';

export interface DerivedFamily {
  /** Directory under the cache. */
  dir: string;
  what: string;
  /** Entries are locked as base/keyed-entry.ts and quick/root.ts lock them: <dir>/.locks/<name>.flock. */
  locked: boolean;
}

export const DERIVED_FAMILIES: readonly DerivedFamily[] = [
  { dir: 'snapshots', what: 'build VM snapshot', locked: true },
  { dir: 'incremental', what: 'incremental-build image', locked: true },
  { dir: 'incremental/trees', what: 'host build tree (incremental builds)', locked: false },
  { dir: 'quick-roots', what: 'kernel root (quick test, incremental compile)', locked: true },
];

export interface DerivedEntry {
  family: string;
  what: string;
  name: string;
  path: string;
  bytes: number;
  lastUsed: Date;
}

/** The newest modification time under p: when a build last wrote or refreshed it. */
async function newest(p: string): Promise<number> {
  const st = await stat(p).catch(() => undefined);
  if (!st) return 0;
  let t = st.mtimeMs;
  if (st.isDirectory()) for (const e of await readdir(p).catch(() => [] as string[])) t = Math.max(t, (await stat(join(p, e)).catch(() => undefined))?.mtimeMs ?? 0);
  return t;
}

export async function listDerived(cacheDir: string): Promise<DerivedEntry[]> {
  const out: DerivedEntry[] = [];
  for (const f of DERIVED_FAMILIES) {
    const dir = join(cacheDir, f.dir);
    for (const name of (await readdir(dir).catch(() => [] as string[])).sort()) {
      if (name.startsWith('.') || name === 'trees') continue;
      const path = join(dir, name);
      if (!(await stat(path)).isDirectory()) continue;
      out.push({ family: f.dir, what: f.what, name, path, bytes: await du(path), lastUsed: new Date(await newest(path)) });
    }
  }
  return out;
}

export interface DerivedPruneResult {
  removed: Array<{ key: string; reason: string; bytes: number }>;
  skipped: Array<{ key: string; reason: string }>;
  freedBytes: number;
}

export async function pruneDerived(cacheDir: string, opts: { all?: boolean; olderThanMs?: number; dryRun?: boolean; now?: number }): Promise<DerivedPruneResult> {
  const result: DerivedPruneResult = { removed: [], skipped: [], freedBytes: 0 };
  const now = opts.now ?? Date.now();
  for (const e of await listDerived(cacheDir)) {
    const why = opts.all ? 'all' : opts.olderThanMs !== undefined && now - e.lastUsed.getTime() > opts.olderThanMs ? `unused since ${e.lastUsed.toISOString()}` : undefined;
    if (!why) continue;
    const family = DERIVED_FAMILIES.find((f) => f.dir === e.family)!;
    const lock = family.locked ? await acquireLock(join(cacheDir, family.dir, '.locks', `${e.name}.flock`), { mode: 'exclusive', timeoutMs: 0, purpose: 'prune' }) : undefined;
    const key = `${e.family}/${e.name}`;
    if (family.locked && !lock) {
      result.skipped.push({ key, reason: 'in use by a running build or test (locked)' });
      continue;
    }
    try {
      if (!opts.dryRun) await removeTree(e.path);
      result.removed.push({ key, reason: `${e.what}: ${why}`, bytes: e.bytes });
      result.freedBytes += e.bytes;
    } finally {
      await lock?.release();
    }
  }
  return result;
}
