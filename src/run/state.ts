// Instance state: one directory per `vexfs-image run`, <cache dir>/instances/NAME/, holding
// state.json (who runs it, where SSH is), the ephemeral key, known_hosts, the overlay and the
// logs. The directory appears atomically (renamed into place with state.json already in it), so
// a directory without a live `run` process behind it is stale and can be taken over.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, VexfsImageError } from '../errors.js';

export const STATE_FILE = 'state.json';

export interface InstanceState {
  name: string;
  /** Absolute path of the image (the overlay's read-only backing file). */
  image: string;
  /** The `vexfs-image run` process that owns the instance. */
  pid: number;
  /** Its start time in /proc (clock ticks since boot), so that a reused pid is not taken for it. */
  pidStartTime?: string;
  qemuPid?: number;
  /** Host port forwarded to the guest's port 22 on 127.0.0.1. */
  sshPort?: number;
  user: string;
  /** Private key (0600) and known_hosts of this instance. */
  key: string;
  knownHosts: string;
  serialLog: string;
  startedAt: string;
  readyAt?: string;
  status: 'starting' | 'ready' | 'stopping';
}

export interface InstanceEntry {
  dir: string;
  state: InstanceState;
  running: boolean;
}

/** Where instance directories live (documented in `run --help`). */
export function instancesRoot(cacheDir: string): string {
  return join(cacheDir, 'instances');
}

/** Field 22 of /proc/PID/stat (after the parenthesised command name, which may hold spaces). */
export function parseStartTime(stat: string): string | undefined {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  return rest[19];
}

function procStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

export function processStartTime(pid: number): string | undefined {
  const stat = procStat(pid);
  return stat ? parseStartTime(stat) : undefined;
}

/** Alive, not a zombie, and (when known) the same process that was recorded, not a reused pid. */
export function isProcessAlive(pid: number, startTime?: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === undefined) return true; // no /proc: trust kill(0)
  if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') return false;
  return startTime === undefined || parseStartTime(stat) === startTime;
}

export function isRunning(state: InstanceState): boolean {
  return isProcessAlive(state.pid, state.pidStartTime);
}

function isState(v: unknown): v is InstanceState {
  const s = v as Partial<InstanceState> | null;
  return (
    typeof s === 'object' && s !== null &&
    typeof s.name === 'string' && typeof s.image === 'string' && typeof s.pid === 'number' &&
    typeof s.user === 'string' && typeof s.key === 'string' && typeof s.knownHosts === 'string' &&
    typeof s.startedAt === 'string'
  );
}

/** The state in dir, or undefined when there is none or it is not ours. */
export async function readState(dir: string): Promise<InstanceState | undefined> {
  try {
    const v = JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as unknown;
    return isState(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Replaces state.json atomically: readers never see half a file. */
export async function writeState(dir: string, state: InstanceState): Promise<void> {
  const tmp = join(dir, `.${STATE_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, join(dir, STATE_FILE));
}

/**
 * A QEMU left behind by a `run` that was SIGKILLed: killed, but only when its command line
 * names this instance's directory (the pid may belong to someone else by now).
 */
export function killOrphanQemu(dir: string, state: InstanceState | undefined): boolean {
  const pid = state?.qemuPid;
  if (!pid || !isProcessAlive(pid)) return false;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return false;
  }
  if (!cmdline.includes(`${dir}/`)) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

function alreadyRunning(existing: InstanceState): UsageError {
  return new UsageError(`an instance named ${existing.name} is already running (pid ${existing.pid}, ${existing.image}, started ${existing.startedAt})`, {
    hint: `pick another name with --name, or stop that one: Ctrl-C in its terminal, or kill ${existing.pid}`,
  });
}

/** Fails early (before any host check or boot) when NAME is taken; claimInstance re-checks atomically. */
export async function assertNameFree(root: string, name: string): Promise<void> {
  const existing = await readState(join(root, name));
  if (existing && isRunning(existing)) throw alreadyRunning(existing);
}

export interface ClaimOptions {
  /** Told about a stale directory that was taken over. */
  onStale?: (dir: string, state: InstanceState | undefined) => void;
}

/**
 * Creates <root>/<state.name> with state.json in it, atomically. A name whose `run` is still
 * alive is a usage error (exit 2); a stale directory (its `run` is gone) is removed and reused.
 */
export async function claimInstance(root: string, state: InstanceState, opts: ClaimOptions = {}): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = join(root, state.name);
  const tmp = join(root, `.${state.name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  for (let attempt = 0; attempt < 3; attempt++) {
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { mode: 0o700 });
    await writeState(tmp, state);
    try {
      await rename(tmp, dir); // fails when dir exists and is not empty
      return dir;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    }
    const existing = await readState(dir);
    if (existing && isRunning(existing)) throw alreadyRunning(existing);
    killOrphanQemu(dir, existing);
    opts.onStale?.(dir, existing);
    await rm(dir, { recursive: true, force: true });
  }
  throw new VexfsImageError('E_INSTANCE', `could not create the instance directory ${dir}: another run keeps taking it`, { hint: 'try again, or pick another name with --name' });
}

/** Every instance directory under root (hidden work directories are skipped), by name. */
export async function listInstances(root: string): Promise<InstanceEntry[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const out: InstanceEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const dir = join(root, name);
    const state = await readState(dir);
    if (state) out.push({ dir, state, running: isRunning(state) });
  }
  return out;
}
