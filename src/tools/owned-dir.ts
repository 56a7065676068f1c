// Work directories that name their owner: an `owner` file with the pid and the process's start
// time (from /proc, so a reused pid is not mistaken for the owner). A run killed with SIGKILL
// cannot clean up; the next run finds its directories by the owner being gone, says so, and
// removes them. Written by hand: it is a few lines over /proc, and no maintained package does
// "temp directory with a liveness record" (tmp/tmp-promise clean up only on a normal exit).
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const OWNER_FILE = 'owner';

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerRecord(): string {
  return `${process.pid} ${processStartTime(process.pid) ?? '?'}\n`;
}

async function writeOwner(dir: string): Promise<void> {
  await writeFile(join(dir, OWNER_FILE), ownerRecord(), { mode: 0o600 });
}

/** mkdtemp (0700) under parent, with an owner record. */
export async function makeOwnedTempDir(parent: string, prefix: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, prefix));
  await writeOwner(dir);
  return dir;
}

/** A fresh directory at path (0700), with an owner record; whatever was there is removed. */
export async function makeOwnedDir(path: string): Promise<string> {
  await rm(path, { recursive: true, force: true });
  await mkdir(path, { recursive: true, mode: 0o700 });
  await writeOwner(path);
  return path;
}

/**
 * Is the directory's owner still running? No owner record (a directory being created this
 * instant, or not ours) counts as alive: only what is provably orphaned is ever removed.
 */
export async function ownerAlive(dir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(join(dir, OWNER_FILE), 'utf8');
  } catch {
    return true;
  }
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  const now = processStartTime(pid);
  return now !== undefined && (started === '?' || now === started);
}

export interface Orphan {
  dir: string;
  pid: number;
}

/** Removes the directories under parent whose name matches and whose owner is gone; returns them. */
export async function removeOrphans(parent: string, matches: (name: string) => boolean): Promise<Orphan[]> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const removed: Orphan[] = [];
  for (const name of names.filter(matches)) {
    const dir = join(parent, name);
    if (await ownerAlive(dir)) continue;
    const pid = Number((await readFile(join(dir, OWNER_FILE), 'utf8').catch(() => '0')).split(' ')[0]);
    await rm(dir, { recursive: true, force: true });
    removed.push({ dir, pid });
  }
  return removed;
}
