// Cross-process locks the kernel releases: a lock on an open file description (Linux OFD locks,
// fcntl F_OFD_SETLK, through fs-native-extensions, a maintained package with prebuilt binaries;
// Node has no flock or fcntl of its own). Like flock(2) the lock belongs to the description this
// process keeps open, so it is gone the moment the process dies, SIGKILL included: there is no
// stale lock to judge and no takeover race (the old mkdir-and-heartbeat lock let two processes
// hold it at once). Shared locks mark a base in use by builds; the exclusive one makes, replaces
// or removes it. Lock files are never deleted: removing one while another process has it open
// would let a third lock a new file of the same name.
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import fsx from 'fs-native-extensions';
import { AbortedError, TimeoutError, throwIfAborted } from '../errors.js';

export type LockMode = 'shared' | 'exclusive';

/** Written into the lock file by an exclusive holder, for "waiting for pid N" messages only. */
export interface LockOwner {
  pid: number;
  host: string;
  since: string;
  purpose?: string;
}

export interface LockOptions {
  /** shared: many holders (a build using a base); exclusive: one, and no shared (default). */
  mode?: LockMode;
  signal?: AbortSignal;
  /** Give up waiting after this long (default 1 h: a cold base build takes minutes). 0 = try once. */
  timeoutMs?: number;
  /** How often a waiter tries again (default 250 ms). Polling, not a blocking fcntl: a blocked
   * call would hold one of libuv's four pool threads, and four waiters would stall all file I/O. */
  pollMs?: number;
  purpose?: string;
  /** Called once when the lock is busy and we start waiting. */
  onWait?: (owner: LockOwner | undefined) => void;
}

export interface Lock extends AsyncDisposable {
  readonly path: string;
  readonly mode: LockMode;
  /** Turns an exclusive lock into a shared one without letting go of it in between. */
  downgrade(): Promise<void>;
  release(): Promise<void>;
}

/** What an exclusive holder wrote, if anything (it may be from a holder that has since died). */
export async function readOwner(fh: FileHandle): Promise<LockOwner | undefined> {
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4096), 0, 4096, 0);
    return bytesRead ? (JSON.parse(buffer.subarray(0, bytesRead).toString('utf8')) as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** Acquires the lock, waiting for its holders; with timeoutMs 0 returns undefined when busy. */
export async function acquireLock(path: string, opts: LockOptions & { timeoutMs: 0 }): Promise<Lock | undefined>;
export async function acquireLock(path: string, opts?: LockOptions): Promise<Lock>;
export async function acquireLock(path: string, opts: LockOptions = {}): Promise<Lock | undefined> {
  const mode = opts.mode ?? 'exclusive';
  const timeoutMs = opts.timeoutMs ?? 3_600_000;
  const deadline = Date.now() + timeoutMs;
  throwIfAborted(opts.signal);
  await mkdir(dirname(path), { recursive: true });
  // Read-write (an exclusive lock needs a descriptor open for writing), created if missing, never
  // truncated on open, so a waiter does not wipe what the holder wrote. Node opens with O_CLOEXEC:
  // children (QEMU, mmdebstrap) do not inherit the descriptor and so never hold the lock.
  const fh = await open(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  let waited = false;
  try {
    for (;;) {
      throwIfAborted(opts.signal);
      if (fsx.tryLock(fh.fd, { shared: mode === 'shared' })) return await held(path, fh, mode, opts.purpose);
      if (timeoutMs === 0) {
        await fh.close();
        return undefined;
      }
      if (!waited) {
        waited = true;
        opts.onWait?.(await readOwner(fh));
      }
      if (Date.now() > deadline) {
        const o = await readOwner(fh);
        throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for the lock ${path}${o ? ` (last exclusive holder: pid ${o.pid} on ${o.host} since ${o.since})` : ''}`, {
          hint: 'another vexfs-image is using it; the kernel releases the lock when that process ends',
        });
      }
      await delay(opts.pollMs ?? 250, undefined, { signal: opts.signal }).catch(() => {
        throw new AbortedError('interrupted while waiting for a lock');
      });
    }
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
}

async function held(path: string, fh: FileHandle, initial: LockMode, purpose: string | undefined): Promise<Lock> {
  let mode = initial;
  if (mode === 'exclusive') {
    const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString(), purpose };
    await fh.truncate(0);
    await fh.write(JSON.stringify(owner), 0);
  }
  let released = false;
  const lock: Lock = {
    path,
    get mode() {
      return mode;
    },
    async downgrade() {
      if (released || mode === 'shared') return;
      await fh.truncate(0);
      // Converting an OFD lock is atomic: no other process can take it in between.
      if (!fsx.tryLock(fh.fd, { shared: true })) throw new Error(`could not downgrade the lock ${path}`);
      mode = 'shared';
    },
    async release() {
      if (released) return;
      released = true;
      if (mode === 'exclusive') await fh.truncate(0).catch(() => undefined);
      // Closing the description releases the lock (unlock first for clarity in strace).
      try {
        fsx.unlock(fh.fd);
      } finally {
        await fh.close().catch(() => undefined);
      }
    },
    [Symbol.asyncDispose]: () => lock.release(),
  };
  return lock;
}
