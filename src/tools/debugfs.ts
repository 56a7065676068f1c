// debugfs (e2fsprogs): reads an ext4 file system inside a raw disk image at a byte offset
// (`image?offset=N`), without loop devices or mounts. Used to copy the image's own kernel, headers
// and toolchain out of it (src/quick/root.ts). The argument builders are pure and unit-tested.
import { run, type ExecOptions } from './exec.js';

/** debugfs's device argument for a file system starting `offset` bytes into `image`. */
export function deviceAt(image: string, offset: number): string {
  return offset ? `${image}?offset=${offset}` : image;
}

/** `rdump SRC... DEST`: copies directories recursively (owners, modes, symlinks kept). */
export function rdumpArgs(device: string, sources: readonly string[], dest: string): string[] {
  for (const p of [...sources, dest]) if (/["\s]/.test(p)) throw new Error(`debugfs: path with a quote or space: ${JSON.stringify(p)}`);
  return ['-R', `rdump ${sources.join(' ')} ${dest}`, device];
}

export async function rdump(device: string, sources: readonly string[], dest: string, opts: ExecOptions = {}): Promise<void> {
  const r = await run('debugfs', rdumpArgs(device, sources, dest), { timeoutMs: 600_000, ...opts });
  // debugfs exits 0 even when a path is missing: its complaints are on stderr.
  const bad = r.stderr.split('\n').find((l) => /File not found|not found by ext2_lookup|Could not allocate|Bad magic/i.test(l));
  if (bad) throw new Error(`debugfs rdump ${sources.join(' ')}: ${bad.trim()}`);
}

/** `ls -p DIR`: entries as /inode/mode/uid/gid/name/size/; returns name and octal mode. */
export function parseLsP(out: string): Array<{ name: string; mode: number }> {
  const entries: Array<{ name: string; mode: number }> = [];
  for (const line of out.split('\n')) {
    const f = line.split('/');
    if (f.length < 7 || !f[5] || f[5] === '.' || f[5] === '..') continue;
    entries.push({ name: f[5], mode: parseInt(f[2] ?? '0', 8) });
  }
  return entries;
}

export async function listDir(device: string, dir: string, opts: ExecOptions = {}): Promise<Array<{ name: string; mode: number }>> {
  const r = await run('debugfs', ['-R', `ls -p ${dir}`, device], { timeoutMs: 60_000, ...opts });
  return parseLsP(r.stdout);
}

/** A symlink's target (`stat` prints `Fast link dest: "..."` for short targets). */
export async function readLink(device: string, path: string, opts: ExecOptions = {}): Promise<string | undefined> {
  const r = await run('debugfs', ['-R', `stat ${path}`, device], { timeoutMs: 60_000, ...opts });
  return /link dest: "([^"]*)"/i.exec(r.stdout)?.[1];
}
