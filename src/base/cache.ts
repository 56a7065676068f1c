// The base-image cache: <cacheDir>/bases/<key>/ holds one image and entry.json. Keys are
// content keys (a recipe hash for built bases, the upstream SHA-256 for downloads). Entries
// are assembled in .tmp/ and renamed into place, so a reader never sees half an entry; a
// per-key lock (lock.ts: released by the kernel when its holder dies) stops two runs doing the
// same work, and its shared mode marks an entry in use by builds so prune leaves it; an entry
// whose image no longer hashes to its recorded digest is discarded, never used.
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256File } from '../tools/hash.js';
import { acquireLock, type Lock, type LockOptions } from './lock.js';
import { removeTree } from './safe-remove.js';
import { assertPlainFileName, unsafeFileNameReason } from './file-name.js';

export const ENTRY_FILE = 'entry.json';
const LAST_USED_FILE = 'last-used';

export type EntryKind = 'debian' | 'download';

export interface EntryMeta {
  kind: EntryKind;
  /** debian-13, ubuntu-24.04, or the URL. */
  name: string;
  /** Where it came from, for humans: "mmdebstrap trixie" or the URL. */
  source: string;
  /** Image file name inside the entry directory. */
  file: string;
  format: string;
  virtualSize: number;
  /** For built bases: the recipe the key was computed from. */
  recipe?: unknown;
  /** Extra facts (tool versions, build time). */
  info?: Record<string, unknown>;
}

export interface CacheEntry extends EntryMeta {
  version: 1;
  key: string;
  /** SHA-256 of the image file, checked before every use. */
  sha256: string;
  size: number;
  createdAt: string;
}

export interface ListedEntry {
  key: string;
  dir: string;
  entry?: CacheEntry;
  /** Bytes on disk in the entry directory. */
  bytes: number;
  lastUsed: Date;
  problem?: string;
}

export function isValidKey(key: string): boolean {
  return /^[a-z0-9][a-z0-9._-]{0,127}$/.test(key);
}

export class BaseCache {
  readonly dir: string;

  constructor(readonly cacheDir: string) {
    this.dir = join(cacheDir, 'bases');
  }

  entryDir(key: string): string {
    if (!isValidKey(key)) throw new Error(`invalid cache key ${JSON.stringify(key)}`);
    return join(this.dir, key);
  }

  /** A file locked with OFD locks (lock.ts). Not the old ".lock" name: those were directories. */
  lockPath(key: string): string {
    if (!isValidKey(key)) throw new Error(`invalid cache key ${JSON.stringify(key)}`);
    return join(this.dir, '.locks', `${key}.flock`);
  }

  /** Where interrupted downloads wait to be resumed, by expected digest. */
  partialPath(sha256: string): string {
    return join(this.dir, '.partial', `${sha256}.part`);
  }

  /** The key's exclusive lock (making, replacing or removing the entry), unless opts.mode says shared. */
  async lock(key: string, opts: LockOptions = {}): Promise<Lock> {
    return acquireLock(this.lockPath(key), opts);
  }

  async tryLock(key: string, opts: Omit<LockOptions, 'timeoutMs'> = {}): Promise<Lock | undefined> {
    return acquireLock(this.lockPath(key), { ...opts, timeoutMs: 0 });
  }

  /**
   * A shared lock that marks the entry in use (a build's overlay is backed by it): prune and
   * rebuilds, which need the exclusive lock, leave it alone until this is released or the
   * process dies. Several builds hold it at once.
   */
  async holdInUse(key: string, opts: Omit<LockOptions, 'mode'> = {}): Promise<Lock> {
    return acquireLock(this.lockPath(key), { ...opts, mode: 'shared' });
  }

  async readEntry(key: string): Promise<CacheEntry | undefined> {
    try {
      const e = JSON.parse(await readFile(join(this.entryDir(key), ENTRY_FILE), 'utf8')) as CacheEntry;
      // An entry.json whose file is "../../x" would point outside the entry: not an entry.
      return e.version === 1 && e.key === key && typeof e.file === 'string' && !unsafeFileNameReason(e.file) ? e : undefined;
    } catch {
      return undefined;
    }
  }

  imagePath(entry: CacheEntry): string {
    return join(this.entryDir(entry.key), entry.file);
  }

  /**
   * The entry for key if it is complete and its image still hashes to the recorded digest.
   * A damaged entry is removed (hold the key's lock when calling this) and undefined returned.
   */
  async lookup(key: string, opts: { onInfo?: (msg: string) => void; /** false: report a damaged entry as missing but leave it (a shared lock is not enough to remove it). */ discard?: boolean } = {}): Promise<CacheEntry | undefined> {
    const dir = this.entryDir(key);
    const entry = await this.readEntry(key);
    if (!entry) {
      // A directory without a readable entry.json is debris from an older layout or a crash.
      if (opts.discard !== false && (await exists(dir))) await this.discard(key, 'no valid entry.json', opts.onInfo);
      return undefined;
    }
    let problem: string | undefined;
    try {
      const st = await stat(this.imagePath(entry));
      if (st.size !== entry.size) problem = `size ${st.size} differs from the recorded ${entry.size}`;
      else {
        const actual = await sha256File(this.imagePath(entry));
        if (actual !== entry.sha256) problem = `digest mismatch: expected sha256:${entry.sha256}, actual sha256:${actual}`;
      }
    } catch (e) {
      problem = `image missing (${(e as Error).message})`;
    }
    if (problem) {
      if (opts.discard !== false) await this.discard(key, problem, opts.onInfo);
      return undefined;
    }
    await this.touch(key);
    return entry;
  }

  private async discard(key: string, why: string, onInfo?: (msg: string) => void): Promise<void> {
    onInfo?.(`cache entry ${key} discarded: ${why}`);
    await removeDir(this.entryDir(key), join(this.dir, '.tmp'));
  }

  async touch(key: string): Promise<void> {
    const p = join(this.entryDir(key), LAST_USED_FILE);
    const now = new Date();
    try {
      await utimes(p, now, now);
    } catch {
      await writeFile(p, '').catch(() => undefined);
    }
  }

  /** A fresh staging directory for key, inside the cache (same file system: rename is atomic). */
  async stage(key: string): Promise<string> {
    const d = join(this.dir, '.tmp', `${key}.${randomUUID().slice(0, 8)}`);
    await mkdir(d, { recursive: true });
    return d;
  }

  /**
   * Hashes the image in stagingDir, writes entry.json and renames the directory into place.
   * The caller holds the key's lock.
   */
  async commit(key: string, stagingDir: string, meta: EntryMeta, knownSha256?: string): Promise<CacheEntry> {
    const image = join(stagingDir, assertPlainFileName(meta.file, 'the cached image file name'));
    const sha256 = knownSha256 ?? (await sha256File(image));
    const entry: CacheEntry = { version: 1, key, ...meta, sha256, size: (await stat(image)).size, createdAt: new Date().toISOString() };
    await writeFile(join(stagingDir, ENTRY_FILE), `${JSON.stringify(entry, null, 2)}\n`);
    await writeFile(join(stagingDir, LAST_USED_FILE), '');
    const dir = this.entryDir(key);
    if (await exists(dir)) await removeDir(dir, join(this.dir, '.tmp'));
    await rename(stagingDir, dir);
    return entry;
  }

  /** Every entry directory, without hashing (use verify for that). */
  async list(): Promise<ListedEntry[]> {
    const out: ListedEntry[] = [];
    for (const name of await readdirSafe(this.dir)) {
      if (name.startsWith('.') || !isValidKey(name)) continue;
      const dir = join(this.dir, name);
      const entry = await this.readEntry(name);
      const bytes = await du(dir);
      let lastUsed: Date;
      try {
        lastUsed = (await stat(join(dir, LAST_USED_FILE))).mtime;
      } catch {
        lastUsed = (await stat(dir)).mtime;
      }
      let problem: string | undefined;
      if (!entry) problem = 'no valid entry.json';
      else {
        try {
          const st = await stat(join(dir, entry.file));
          if (st.size !== entry.size) problem = `image size ${st.size} differs from the recorded ${entry.size}`;
        } catch {
          problem = 'image missing';
        }
      }
      out.push({ key: name, dir, entry, bytes, lastUsed, problem });
    }
    return out.sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Removes what the options select; entries in use (locked) are skipped and reported. */
  async prune(opts: PruneOptions = {}): Promise<PruneResult> {
    const result: PruneResult = { removed: [], skipped: [], freedBytes: 0 };
    const now = opts.now ?? Date.now();
    for (const e of await this.list()) {
      let why: string | undefined;
      if (opts.all) why = 'all';
      else if (e.problem) why = e.problem;
      else if (opts.olderThanMs !== undefined && now - e.lastUsed.getTime() > opts.olderThanMs) why = `unused since ${e.lastUsed.toISOString()}`;
      if (!why && opts.verify && e.entry) {
        const actual = await sha256File(join(e.dir, e.entry.file));
        if (actual !== e.entry.sha256) why = `digest mismatch: expected sha256:${e.entry.sha256}, actual sha256:${actual}`;
      }
      if (!why) continue;
      const lock = await this.tryLock(e.key, { purpose: 'prune' });
      if (!lock) {
        result.skipped.push({ key: e.key, reason: 'in use by a running build or base job (locked)' });
        continue;
      }
      try {
        if (!opts.dryRun) await removeDir(e.dir, join(this.dir, '.tmp'));
        result.removed.push({ key: e.key, reason: why, bytes: e.bytes });
        result.freedBytes += e.bytes;
      } finally {
        await lock.release();
      }
    }
    // Staging directories and partial downloads whose key is not locked are debris from killed runs.
    for (const name of await readdirSafe(join(this.dir, '.tmp'))) {
      const key = name.replace(/\.[^.]+$/, '');
      const p = join(this.dir, '.tmp', name);
      const lock = isValidKey(key) ? await this.tryLock(key, { purpose: 'prune' }) : undefined;
      if (isValidKey(key) && !lock) continue;
      try {
        const bytes = await du(p);
        if (!opts.dryRun) await removeTree(p);
        result.removed.push({ key: `.tmp/${name}`, reason: 'unfinished build or download', bytes });
        result.freedBytes += bytes;
      } finally {
        await lock?.release();
      }
    }
    if (opts.all || opts.olderThanMs !== undefined) {
      for (const name of await readdirSafe(join(this.dir, '.partial'))) {
        const p = join(this.dir, '.partial', name);
        const st = await stat(p).catch(() => undefined);
        if (!st || (!opts.all && now - st.mtimeMs <= (opts.olderThanMs ?? 0))) continue;
        // A download in progress holds its key's lock (the key is made from the same digest).
        const key = /^[0-9a-f]{64}\.part$/.test(name) ? `download-${name.slice(0, 16)}` : undefined;
        const lock = key ? await this.tryLock(key, { purpose: 'prune' }) : undefined;
        if (key && !lock) {
          result.skipped.push({ key: `.partial/${name}`, reason: 'a download in progress (locked)' });
          continue;
        }
        try {
          if (!opts.dryRun) await rm(p, { force: true });
          result.removed.push({ key: `.partial/${name}`, reason: 'interrupted download', bytes: st.size });
          result.freedBytes += st.size;
        } finally {
          await lock?.release();
        }
      }
    }
    return result;
  }
}

export interface PruneOptions {
  /** Remove every entry. */
  all?: boolean;
  /** Remove entries not used for this long. */
  olderThanMs?: number;
  /** Hash every image and remove those that no longer match. */
  verify?: boolean;
  dryRun?: boolean;
  now?: number;
}

export interface PruneResult {
  removed: Array<{ key: string; reason: string; bytes: number }>;
  skipped: Array<{ key: string; reason: string }>;
  freedBytes: number;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Renames the directory away first, so nobody sees it half-deleted, then removes it. */
async function removeDir(dir: string, tmpRoot: string): Promise<void> {
  await mkdir(tmpRoot, { recursive: true });
  const grave = join(tmpRoot, `.removing-${randomUUID().slice(0, 8)}`);
  try {
    await rename(dir, grave);
  } catch {
    return;
  }
  await rm(grave, { recursive: true, force: true });
}

/** Bytes on disk under p (the cache's entries, base and derived). */
export async function du(p: string): Promise<number> {
  const st = await stat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.blocks * 512;
  let total = 0;
  for (const name of await readdirSafe(p)) total += await du(join(p, name));
  return total;
}
