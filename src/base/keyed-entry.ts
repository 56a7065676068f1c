// The pattern the tool's derived caches share (build VM snapshots: vm/snapshot.ts; incremental
// images: builder/incremental/store.ts): one directory per key with an entry.json, readers under a
// shared lock for as long as they use the entry, a writer under the exclusive lock taken without
// waiting (a busy entry is left as it is), staging in .tmp/ renamed into place in whole, so an
// interrupted write leaves the entry it found. Each store checks its own files.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock, type Lock } from './lock.js';
import { removeTree } from './safe-remove.js';

export interface KeyedStore {
  /** The family's directory, e.g. <cache>/snapshots. */
  root: string;
  /** entry.json's format number this code reads and writes. */
  format: number;
}

/** An entry's directory and lock file: named by the key's first 32 hex digits (base/derived-cache.ts lists them so). */
export const entryDirOf = (store: KeyedStore, key: string): string => join(store.root, key.slice(0, 32));
export const lockPathOf = (store: KeyedStore, key: string): string => join(store.root, '.locks', `${key.slice(0, 32)}.flock`);

export type OpenedKeyed<T> = { entry: T; dir: string; lock: Lock } | { why: string; lock?: undefined };

/**
 * entry.json of key's entry, under a shared lock the caller keeps while it uses the entry (and
 * releases, as on every `why`), when it is of this format and key; else why not (`missing` when
 * there is no readable entry.json).
 */
export async function openKeyed<T extends { format: number; key: string }>(store: KeyedStore, key: string, o: { purpose: string; missing: string; foreign: string; signal?: AbortSignal }): Promise<OpenedKeyed<T>> {
  await mkdir(join(store.root, '.locks'), { recursive: true });
  const lock = await acquireLock(lockPathOf(store, key), { mode: 'shared', ...(o.signal ? { signal: o.signal } : {}), purpose: o.purpose });
  const dir = entryDirOf(store, key);
  let entry: T;
  try {
    entry = JSON.parse(await readFile(join(dir, 'entry.json'), 'utf8')) as T;
  } catch {
    await lock.release();
    return { why: o.missing };
  }
  if (entry.format !== store.format || entry.key !== key) {
    await lock.release();
    return { why: o.foreign };
  }
  return { entry, dir, lock };
}

/**
 * Writes key's entry with fill(stage) into a fresh 0700 staging directory and renames it into
 * place. Returns false, writing nothing, when a build holds the entry.
 */
export async function writeKeyed(store: KeyedStore, key: string, purpose: string, fill: (stage: string) => Promise<void>): Promise<boolean> {
  await mkdir(join(store.root, '.locks'), { recursive: true });
  const lock = await acquireLock(lockPathOf(store, key), { mode: 'exclusive', timeoutMs: 0, purpose });
  if (!lock) return false;
  const stage = join(store.root, '.tmp', `${key.slice(0, 32)}.${randomUUID().slice(0, 8)}`);
  try {
    await mkdir(stage, { recursive: true, mode: 0o700 });
    await chmod(stage, 0o700);
    await fill(stage);
    const dir = entryDirOf(store, key);
    const old = `${stage}.old`;
    await rename(dir, old).catch(() => undefined);
    await rename(stage, dir);
    await removeTree(old).catch(() => undefined);
    return true;
  } finally {
    await removeTree(stage).catch(() => undefined);
    await lock.release();
  }
}
