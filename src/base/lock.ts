// A cross-process lock on a directory name: mkdir is atomic on every local file system. The
// holder records who it is and refreshes the directory's mtime (a heartbeat); a lock whose
// holder is a dead process on this host, or whose heartbeat stopped, is stolen by renaming
// it away (only one contender can win that rename).
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { AbortedError, TimeoutError, throwIfAborted } from '../errors.js';

export interface LockOwner {
  pid: number;
  host: string;
  token: string;
  since: string;
  purpose?: string;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** Give up waiting after this long (default 1 h: a cold base build takes minutes). 0 = try once. */
  timeoutMs?: number;
  pollMs?: number;
  /** A lock whose heartbeat is older than this is abandoned (default 2 min). */
  staleMs?: number;
  purpose?: string;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: (owner: LockOwner | undefined) => void;
}

export interface Lock extends AsyncDisposable {
  readonly path: string;
  readonly owner: LockOwner;
  release(): Promise<void>;
}

const OWNER_FILE = 'owner.json';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    return JSON.parse(await readFile(join(path, OWNER_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Why an existing lock may be taken over, or undefined when its holder looks alive. */
export async function staleReason(path: string, staleMs: number, now = Date.now()): Promise<string | undefined> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
  } catch {
    return undefined; // gone already: the next mkdir will tell
  }
  const owner = await readOwner(path);
  if (owner && owner.host === hostname() && !pidAlive(owner.pid)) return `holder pid ${owner.pid} is gone`;
  if (!owner && now - mtimeMs > 10_000) return 'no owner recorded';
  if (now - mtimeMs > staleMs) return `no heartbeat for ${Math.round((now - mtimeMs) / 1000)} s`;
  return undefined;
}

async function tryCreate(path: string, owner: LockOwner): Promise<boolean> {
  try {
    await mkdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  await writeFile(join(path, OWNER_FILE), JSON.stringify(owner));
  return true;
}

/** Acquires the lock, waiting for its holder; with timeoutMs 0 returns undefined when busy. */
export async function acquireLock(path: string, opts: LockOptions & { timeoutMs: 0 }): Promise<Lock | undefined>;
export async function acquireLock(path: string, opts?: LockOptions): Promise<Lock>;
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock | undefined> {
  const staleMs = opts.staleMs ?? 120_000;
  const timeoutMs = opts.timeoutMs ?? 3_600_000;
  const deadline = Date.now() + timeoutMs;
  const owner: LockOwner = { pid: process.pid, host: hostname(), token: randomUUID(), since: new Date().toISOString(), purpose: opts.purpose };
  await mkdir(dirname(path), { recursive: true });
  let waited = false;
  for (;;) {
    throwIfAborted(opts.signal);
    if (await tryCreate(path, owner)) return held(path, owner, staleMs);
    const stale = await staleReason(path, staleMs);
    if (stale) {
      const grave = `${path}.stale-${randomUUID()}`;
      try {
        await rename(path, grave);
        await rm(grave, { recursive: true, force: true });
      } catch {
        /* another contender took it over first */
      }
      continue;
    }
    if (timeoutMs === 0) return undefined;
    if (!waited) {
      waited = true;
      opts.onWait?.(await readOwner(path));
    }
    if (Date.now() > deadline) {
      const o = await readOwner(path);
      throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${path}${o ? ` (held by pid ${o.pid} on ${o.host} since ${o.since})` : ''}`, {
        hint: `if no other vexfs-image is running, remove ${path}`,
      });
    }
    await delay(opts.pollMs ?? 250, undefined, { signal: opts.signal }).catch(() => {
      throw new AbortedError('interrupted while waiting for a lock');
    });
  }
}

function held(path: string, owner: LockOwner, staleMs: number): Lock {
  const beat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(1000, Math.floor(staleMs / 4)));
  beat.unref();
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    clearInterval(beat);
    const current = await readOwner(path);
    // Never remove a lock someone else took over (after we were judged stale).
    if (current?.token === owner.token) await rm(path, { recursive: true, force: true });
  };
  return { path, owner, release, [Symbol.asyncDispose]: release };
}
