// Rust crates from Cargo.lock files in the source tree (the payload's tools, e.g. vexctl).
// Parsed with smol-toml (a maintained TOML parser already used for the payload config).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse } from 'smol-toml';

export interface Crate {
  name: string;
  version: string;
  /** e.g. registry+https://github.com/rust-lang/crates.io-index; absent for the workspace's own crates. */
  source?: string;
  /** sha256 of the .crate file (registry crates only). */
  checksum?: string;
  /** The Cargo.lock it came from, relative to the source root. */
  lockfile: string;
}

export function parseCargoLock(text: string, lockfile = 'Cargo.lock'): Crate[] {
  const doc = parse(text) as { package?: Array<Record<string, unknown>> };
  const out: Crate[] = [];
  for (const p of doc.package ?? []) {
    if (typeof p.name !== 'string' || typeof p.version !== 'string') throw new Error(`${lockfile}: a [[package]] without name or version`);
    out.push({
      name: p.name,
      version: p.version,
      ...(typeof p.source === 'string' ? { source: p.source } : {}),
      ...(typeof p.checksum === 'string' && /^[0-9a-f]{64}$/.test(p.checksum) ? { checksum: p.checksum } : {}),
      lockfile,
    });
  }
  return out;
}

const SKIP = new Set(['target', 'node_modules', '.git']);

/** Every Cargo.lock up to `depth` directories below root (build output skipped), crates sorted and deduplicated. */
export function sourceCrates(root: string, depth = 2): Crate[] {
  const found = new Map<string, Crate>();
  const walk = (dir: string, left: number): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (entries.some((e) => e.name === 'Cargo.lock' && e.isFile())) {
      const lock = join(dir, 'Cargo.lock');
      for (const c of parseCargoLock(readFileSync(lock, 'utf8'), relative(root, lock))) {
        const key = `${c.name}@${c.version}@${c.source ?? ''}`;
        if (!found.has(key)) found.set(key, c);
      }
    }
    if (left > 0) for (const e of entries) if (e.isDirectory() && !SKIP.has(e.name) && !e.name.startsWith('.')) walk(join(dir, e.name), left - 1);
  };
  walk(root, depth);
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.version < b.version ? -1 : 1));
}

