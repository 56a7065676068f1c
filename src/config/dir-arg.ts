// Directory arguments (--output-dir, --build-dir, --cache-dir, --artifacts-dir, --report-dir,
// --work-dir) checked before anything is written: a file, a dangling symlink or a path that
// cannot be created is a usage error naming the flag, not an errno from deep inside a run.
// Nothing is created here, and no recursive mkdir is tried: Node's mkdir -p spins forever under
// /proc (measured: `build --build-dir /proc/self/x` hung at 100% CPU).
import { accessSync, constants, lstatSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/** Pseudo file systems nothing of ours can be created in (statfs f_type). */
const PSEUDO_FS: Readonly<Record<number, string>> = { 0x9fa0: 'proc', 0x62656572: 'sysfs', 0x64626720: 'debugfs', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2', 0x1cd1: 'devpts' };

function kindOf(p: string): 'missing' | 'dangling' | 'dir' | 'other' {
  try {
    lstatSync(p);
  } catch {
    return 'missing';
  }
  try {
    return statSync(p).isDirectory() ? 'dir' : 'other';
  } catch {
    return 'dangling';
  }
}

/** The absolute path of a directory flag that exists or can be created; UsageError otherwise. */
export function checkDirArg(path: string, flag: string, cwd = process.cwd()): string {
  const abs = resolve(cwd, path);
  const k = kindOf(abs);
  const fix = `; pass ${flag} a directory`;
  if (k === 'dangling') throw new UsageError(`${flag} ${abs} is a dangling symbolic link${fix}.`);
  if (k === 'other') throw new UsageError(`${flag} ${abs} is not a directory${fix}.`);
  let existing = abs;
  while (kindOf(existing) === 'missing' && dirname(existing) !== existing) existing = dirname(existing);
  const ek = kindOf(existing);
  if (ek === 'dangling') throw new UsageError(`${flag} ${abs} cannot be created: ${existing} is a dangling symbolic link${fix}.`);
  if (ek !== 'dir') throw new UsageError(`${flag} ${abs} cannot be created: ${existing} is not a directory${fix}.`);
  const fs = PSEUDO_FS[Number(statfsSync(existing).type)];
  if (fs) throw new UsageError(`${flag} ${abs} cannot be created: ${existing} is on a ${fs} file system${fix}.`);
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
  } catch {
    throw new UsageError(`${flag} ${abs}${k === 'missing' ? ' cannot be created' : ' is not writable'}: no write permission in ${existing}${fix}.`);
  }
  return abs;
}
