// checksums.sha256 of an artifacts directory: one `sha256sum` line per image file, with paths
// relative to the directory, so `sha256sum -c checksums.sha256` run there verifies them all.
import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { sha256File, sha256sumLine } from '../tools/hash.js';

export const CHECKSUMS_FILE = 'checksums.sha256';

export interface ChecksumEntry {
  /** Relative to the artifacts directory, with forward slashes (e.g. images/vexfs-minimal-1.0.0.qcow2). */
  path: string;
  sha256: string;
}

/** A relative path that cannot escape the directory (no absolute paths, no `..`). */
export function isSafeRelative(p: string): boolean {
  if (!p || isAbsolute(p) || p.includes('\\') || p.includes('\n')) return false;
  const n = normalize(p);
  return n === p.replace(/^\.\//, '') && !n.startsWith('..') && !n.split('/').includes('..');
}

export function formatChecksums(entries: readonly ChecksumEntry[]): string {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return sorted.map((e) => sha256sumLine(e.sha256, e.path)).join('');
}

/** Parses sha256sum output (text `  ` or binary ` *` mode). Throws on a malformed line. */
export function parseChecksums(text: string, where = CHECKSUMS_FILE): ChecksumEntry[] {
  const out: ChecksumEntry[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m || !isSafeRelative(m[2]!)) throw new Error(`${where}:${i + 1}: not a sha256sum line with a relative path: ${JSON.stringify(line.slice(0, 120))}`);
    out.push({ sha256: m[1]!.toLowerCase(), path: m[2]! });
  }
  return out;
}

export async function readChecksums(dir: string): Promise<ChecksumEntry[]> {
  return parseChecksums(await readFile(join(dir, CHECKSUMS_FILE), 'utf8'), join(dir, CHECKSUMS_FILE));
}

export async function writeChecksums(dir: string, entries: readonly ChecksumEntry[]): Promise<string> {
  const file = join(dir, CHECKSUMS_FILE);
  await writeFile(file, formatChecksums(entries));
  return file;
}

export interface ChecksumProblem {
  path: string;
  /** The file is not there (a metadata-only shard), rather than different. */
  missing: boolean;
  /** `path: sha256 <got>, expected <want>` or `path: missing`. */
  message: string;
}

/** The entries whose file is missing or whose digest does not match. */
export async function verifyChecksums(dir: string, entries: readonly ChecksumEntry[]): Promise<ChecksumProblem[]> {
  const bad: ChecksumProblem[] = [];
  for (const e of entries) {
    try {
      const got = await sha256File(join(dir, e.path));
      if (got !== e.sha256) bad.push({ path: e.path, missing: false, message: `${e.path}: sha256 ${got}, expected ${e.sha256}` });
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      bad.push({ path: e.path, missing, message: `${e.path}: ${missing ? 'missing' : String(err)}` });
    }
  }
  return bad;
}
