// The image's own root, copied out of it once: its kernel (/boot/vmlinuz-*), the headers that
// kernel's modules build against, and the compiler and tools that built them. Read with debugfs
// from a raw copy (no loop device, no mount), cached under <cache>/quick-roots/ keyed by the
// image's sha256. An entry is made in .tmp/ and renamed into place with its root.json last
// written, under the key's exclusive lock: an interrupted extraction leaves nothing that is used,
// and a second test waiting on the lock finds the first one's entry.
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rename, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireLock } from '../base/lock.js';
import { removeTree } from '../base/safe-remove.js';
import { UsageError } from '../errors.js';
import { deviceAt, listDir, rdump, readLink } from '../tools/debugfs.js';
import { convertToRaw } from '../tools/qemu-img.js';
import { readPartitionTable } from '../tools/sfdisk.js';

/** Bump when what an entry holds changes: older entries are then rebuilt. */
const ROOT_FORMAT = 1;

export interface KernelRoot {
  /** The extracted root (chroot target). */
  dir: string;
  kernelRelease: string;
  /** Host path of the kernel image. */
  kernel: string;
  sha256: string;
}

interface RootMeta {
  format: number;
  sha256: string;
  kernelRelease: string;
  source: string;
}

/** Top-level directories of the image the compile needs; the rest (var, home, srv) is not copied. */
const COPIED = new Set(['usr', 'etc', 'boot', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'opt', 'root']);
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

export function rootsDir(cacheDir: string): string {
  return join(cacheDir, 'quick-roots');
}

/** The cached root for sha256, when complete and intact enough to use (else undefined). */
export async function cachedRoot(cacheDir: string, sha256: string): Promise<KernelRoot | undefined> {
  const entry = join(rootsDir(cacheDir), sha256.slice(0, 32));
  try {
    const meta = JSON.parse(await readFile(join(entry, 'root.json'), 'utf8')) as RootMeta;
    if (meta.format !== ROOT_FORMAT || meta.sha256 !== sha256 || !/^[\w.+-]+$/.test(meta.kernelRelease)) return undefined;
    const dir = join(entry, 'root');
    const kernel = join(dir, 'boot', `vmlinuz-${meta.kernelRelease}`);
    // A damaged entry (a kernel or the headers gone) is rebuilt, never used.
    await stat(kernel);
    await stat(join(dir, 'usr', 'lib', 'modules', meta.kernelRelease, 'build', 'Makefile'));
    // When it was last used, for `cache prune --older-than` (base/derived-cache.ts).
    const now = new Date();
    await utimes(join(entry, 'root.json'), now, now).catch(() => undefined);
    return { dir, kernelRelease: meta.kernelRelease, kernel, sha256 };
  } catch {
    return undefined;
  }
}

/** The one kernel in /boot whose headers are installed, from debugfs listings. */
export function pickKernel(bootNames: readonly string[], headerDirs: readonly string[], image: string): string {
  const releases = bootNames.filter((n) => n.startsWith('vmlinuz-')).map((n) => n.slice('vmlinuz-'.length));
  if (releases.length === 0) throw new UsageError(`${image} has no kernel in /boot`, { hint: 'pass a Debian or Ubuntu image (or test against the build\'s base: omit IMAGE)' });
  const withHeaders = releases.filter((r) => headerDirs.includes(`linux-headers-${r}`));
  if (withHeaders.length === 0) {
    throw new UsageError(`${image} has no kernel headers for ${releases.join(', ')} (its variant purged the toolchain)`, {
      hint: 'omit IMAGE to test against the build\'s base (it has the headers and compiler), or use an image of a variant with keep_toolchain (development)',
    });
  }
  if (withHeaders.length > 1) throw new UsageError(`${image} has headers for several kernels (${withHeaders.join(', ')}); the quick test needs one`);
  return withHeaders[0]!;
}

async function extract(image: { path: string; format: string }, stage: string, opts: { signal?: AbortSignal; logFile?: string }): Promise<string> {
  const raw = join(stage, 'disk.raw');
  await convertToRaw(image.path, raw, { sourceFormat: image.format, ...opts });
  const table = await readPartitionTable(raw, opts);
  // The root file system: the largest partition (the others are BIOS boot or EFI, a few MiB).
  const part = [...table.partitions].sort((a, b) => b.size - a.size)[0];
  const dev = deviceAt(raw, part ? part.start * table.sectorSize : 0);
  const top = await listDir(dev, '/', opts);
  const kernelRelease = pickKernel((await listDir(dev, '/boot', opts)).map((e) => e.name), (await listDir(dev, '/usr/src', opts)).map((e) => e.name), image.path);
  const root = join(stage, 'root');
  await mkdir(root, { recursive: true });
  const dirs: string[] = [];
  for (const e of top) {
    if (!COPIED.has(e.name)) continue;
    if ((e.mode & S_IFMT) === S_IFDIR) dirs.push(`/${e.name}`);
    else if ((e.mode & S_IFMT) === S_IFLNK) {
      const target = await readLink(dev, `/${e.name}`, opts);
      if (target) await symlink(target, join(root, e.name));
    }
  }
  await rdump(dev, dirs, root, opts);
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'root']) await mkdir(join(root, d), { recursive: true });
  await chmod(join(root, 'tmp'), 0o1777);
  await unlink(raw);
  return kernelRelease;
}

/** The root for this image, extracted now unless a valid entry is cached. */
export async function kernelRoot(image: { path: string; format: string; sha256: string }, cacheDir: string, opts: { signal?: AbortSignal; logFile?: string; onInfo?: (m: string) => void } = {}): Promise<KernelRoot> {
  const hit = await cachedRoot(cacheDir, image.sha256);
  if (hit) return hit;
  const roots = rootsDir(cacheDir);
  const key = image.sha256.slice(0, 32);
  await mkdir(join(roots, '.tmp'), { recursive: true });
  const lock = await acquireLock(join(roots, '.locks', `${key}.flock`), { mode: 'exclusive', signal: opts.signal, purpose: `extract ${image.path}` });
  try {
    const again = await cachedRoot(cacheDir, image.sha256);
    if (again) return again;
    const entry = join(roots, key);
    const stage = join(roots, '.tmp', `${key}.${randomUUID().slice(0, 8)}`);
    await mkdir(stage, { recursive: true });
    try {
      opts.onInfo?.(`copying the kernel, headers and toolchain out of ${image.path} (once per image)`);
      const kernelRelease = await extract(image, stage, opts);
      const meta: RootMeta = { format: ROOT_FORMAT, sha256: image.sha256, kernelRelease, source: image.path };
      await writeFile(join(stage, 'root.json'), `${JSON.stringify(meta, null, 2)}\n`);
      await removeTree(entry).catch(() => undefined);
      await rename(stage, entry);
    } finally {
      await removeTree(stage).catch(() => undefined);
    }
    const made = await cachedRoot(cacheDir, image.sha256);
    if (!made) throw new Error(`the extracted root in ${entry} is incomplete`);
    return made;
  } finally {
    await lock.release();
  }
}

/** Entry directories (for `cache` listings and tests). */
export async function listRoots(cacheDir: string): Promise<string[]> {
  return (await readdir(rootsDir(cacheDir)).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
}
