// `vexfs-image diff A B`: what differs between two images, read on the host (image-tree.ts):
// files added, removed or changed (content, type, mode, owner, size, symlink target, and times
// when asked), the Debian packages (from each image's own dpkg database) and kernel modules'
// vermagic. Content is compared by sha256 of files of equal size.
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeOwnedTempDir, removeOrphans } from '../tools/owned-dir.js';
import { parseDpkgStatus } from './dpkg.js';
import { checkImageFile, dumpTree, fileSha256, listTree, moduleVermagic, openImage, type TreeEntry } from './image-tree.js';

export type FileChange = 'added' | 'removed' | 'type' | 'content' | 'size' | 'mode' | 'owner' | 'target' | 'mtime';

export interface FileDifference {
  path: string;
  changes: FileChange[];
  a?: string;
  b?: string;
}

export interface PackageDifference {
  name: string;
  a?: string;
  b?: string;
}

export interface ImageDiff {
  a: string;
  b: string;
  files: FileDifference[];
  packages: PackageDifference[];
  modules: Array<{ path: string; a?: string; b?: string }>;
  /** Entries compared (the union of both trees). */
  entries: number;
  same: boolean;
}

const WORK_PREFIX = 'vexfs-diff.';

export interface DiffOptions {
  /** Compare modification times too (off by default: every build writes new ones). */
  times?: boolean;
  /** Where the raw copies and dumped trees go (a vexfs-diff.* directory is made in it). */
  tmpDir: string;
  signal?: AbortSignal;
}

const describe = (e: TreeEntry): string =>
  `${e.type} ${e.mode.toString(8).padStart(4, '0')} ${e.uid}:${e.gid} ${e.type === 'symlink' ? `-> ${e.target}` : `${e.size} bytes`}`;

/** Compares two dumped trees (roots a and b). */
export async function diffTrees(rootA: string, rootB: string, opts: { times?: boolean } = {}): Promise<{ files: FileDifference[]; modules: ImageDiff['modules']; entries: number }> {
  const [ta, tb] = [await listTree(rootA), await listTree(rootB)];
  const paths = [...new Set([...ta.keys(), ...tb.keys()])].sort();
  const files: FileDifference[] = [];
  const modules: ImageDiff['modules'] = [];
  for (const p of paths) {
    const a = ta.get(p);
    const b = tb.get(p);
    const isModule = p.endsWith('.ko') && (a?.type === 'file' || b?.type === 'file');
    if (isModule) {
      const va = a?.type === 'file' ? await moduleVermagic(join(rootA, p)) : undefined;
      const vb = b?.type === 'file' ? await moduleVermagic(join(rootB, p)) : undefined;
      if (va !== vb) modules.push({ path: p, ...(va ? { a: va } : {}), ...(vb ? { b: vb } : {}) });
    }
    if (!a || !b) {
      files.push({ path: p, changes: [a ? 'removed' : 'added'], ...(a ? { a: describe(a) } : { b: describe(b!) }) });
      continue;
    }
    const changes: FileChange[] = [];
    if (a.type !== b.type) changes.push('type');
    else {
      if (a.mode !== b.mode) changes.push('mode');
      if (a.uid !== b.uid || a.gid !== b.gid) changes.push('owner');
      if (a.type === 'symlink' && a.target !== b.target) changes.push('target');
      if (a.type === 'file') {
        if (a.size !== b.size) changes.push('size', 'content');
        else if ((await fileSha256(rootA, p)) !== (await fileSha256(rootB, p))) changes.push('content');
      }
      if (opts.times && a.type !== 'symlink' && a.mtimeS !== b.mtimeS) changes.push('mtime');
    }
    if (changes.length) files.push({ path: p, changes, a: describe(a), b: describe(b) });
  }
  return { files, modules, entries: paths.length };
}

async function packagesOf(root: string): Promise<Map<string, string>> {
  const f = join(root, 'var/lib/dpkg/status');
  if (!existsSync(f)) return new Map();
  return new Map(parseDpkgStatus(await readFile(f, 'utf8')).map((p) => [`${p.name}:${p.architecture}`, p.version]));
}

export function diffPackages(a: Map<string, string>, b: Map<string, string>): PackageDifference[] {
  const out: PackageDifference[] = [];
  for (const name of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    const [va, vb] = [a.get(name), b.get(name)];
    if (va !== vb) out.push({ name, ...(va ? { a: va } : {}), ...(vb ? { b: vb } : {}) });
  }
  return out;
}

export async function diffImages(pathA: string, pathB: string, opts: DiffOptions): Promise<ImageDiff> {
  // Bad input before anything is written.
  for (const p of [pathA, pathB]) await checkImageFile(p);
  // Owned: a diff killed half way leaves its copies for the next one to find and remove.
  await removeOrphans(opts.tmpDir, (n) => n.startsWith(WORK_PREFIX));
  const workDir = await makeOwnedTempDir(opts.tmpDir, WORK_PREFIX);
  try {
    const roots: string[] = [];
    for (const [i, p] of [pathA, pathB].entries()) {
      const work = join(workDir, `img-${i}`);
      const img = await openImage(p, work, opts.signal);
      try {
        const root = join(work, 'root');
        await dumpTree(img, root, opts.signal);
        roots.push(root);
      } finally {
        await img.close();
      }
    }
    const t = await diffTrees(roots[0]!, roots[1]!, { times: opts.times });
    const packages = diffPackages(await packagesOf(roots[0]!), await packagesOf(roots[1]!));
    return { a: pathA, b: pathB, ...t, packages, same: !t.files.length && !packages.length && !t.modules.length };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

export function diffText(d: ImageDiff): string {
  if (d.same) return `same: ${d.a} and ${d.b} (${d.entries} entries, packages and module vermagic compared)\n`;
  const lines = [`--- ${d.a}`, `+++ ${d.b}`];
  for (const f of d.files) {
    lines.push(`${f.changes.join(',').padEnd(14)} ${f.path}${f.a && f.b ? `  (${f.a} => ${f.b})` : f.a ? `  (${f.a})` : `  (${f.b})`}`);
  }
  for (const p of d.packages) lines.push(`package        ${p.name}: ${p.a ?? '(none)'} => ${p.b ?? '(none)'}`);
  for (const m of d.modules) lines.push(`vermagic       ${m.path}: ${m.a ?? '(none)'} => ${m.b ?? '(none)'}`);
  lines.push(`${d.files.length} files, ${d.packages.length} packages, ${d.modules.length} modules differ (of ${d.entries} entries)`);
  return `${lines.join('\n')}\n`;
}
