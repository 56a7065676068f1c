// The build's inputs digest: one SHA-256 over everything that decides what an image holds (the
// source tree as the source share sees it, the config, payload, variant, version, package set,
// base image, this tool's version, code and guest/ scripts). Computed before anything is written
// or booted, recorded in the image's manifest, and compared on the next build: equal inputs make
// the build a no-op (up-to-date.ts). Host paths, deadlines, memory and vCPUs are not inputs: they
// do not change the image's content.
import { createHash } from 'node:crypto';
import { sha256File, sha256Of } from '../tools/hash.js';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildPlan } from '../config/load.js';
import { GUEST_DIR, PACKAGE_VERSION } from '../paths.js';

/** Bump when what goes into a part changes meaning: every recorded digest then differs. */
export const INPUTS_SCHEMA = 1;

/** The named parts, each a hex SHA-256 (the base: its image's sha256, or null when not known yet). */
export interface InputParts {
  source: string;
  config: string;
  payload: string;
  variant: string;
  version: string;
  packages: string;
  tool: string;
  guest: string;
  base: string | null;
}

export interface InputsRecord {
  schema: number;
  digest: string;
  parts: InputParts;
}

const sha = sha256Of;

/**
 * What the guest build never sees: source-share.ts shares the whole tree, and
 * guest/build/build-payload.sh copies it with `tar --exclude=.git --exclude=./target
 * --exclude=./vexctl/target` (any .git; the two cargo target directories). Keep the two in step.
 */
export function sourceExcluded(rel: string): boolean {
  return rel === 'target' || rel === 'vexctl/target' || rel === '.git' || rel.endsWith('/.git');
}

/**
 * Every entry under dir the build can see: relative path, type, permission bits, and a file's
 * content or a symlink's target (hidden files and build leftovers included). Names sorted by code
 * unit, so the digest is the same on every host.
 */
export async function hashTree(dir: string, exclude: (rel: string) => boolean = () => false): Promise<string> {
  const h = createHash('sha256');
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      if (exclude(r)) continue;
      const p = join(dir, r);
      const st = await lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        h.update(`d\0${r}\0${mode}\n`);
        await walk(r);
      } else if (st.isSymbolicLink()) h.update(`l\0${r}\0${await readlink(p)}\n`);
      else if (st.isFile()) h.update(`f\0${r}\0${mode}\0${st.size}\0${await sha256File(p)}\n`);
      else h.update(`o\0${r}\0${mode}\n`); // a socket or fifo: mke2fs copies its node, not content
    }
  };
  await walk('');
  return h.digest('hex');
}

/** This tool's own code (src/ under tsx, dist/src/ after tsc): a changed step changes the image. */
const CODE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));

/** Stable JSON: object keys sorted, so equal data always hashes alike. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

export type PlanInputs = Pick<BuildPlan, 'sourceDir' | 'variantName' | 'variant' | 'version' | 'base' | 'diskSizeBytes' | 'payload' | 'basePackages' | 'preinstall' | 'toolchainPackages' | 'signing'> & {
  /** The config file read (at the source root it is part of the source tree too). */
  configPath?: string;
};

export interface PartsOptions {
  /** Overrides for tests: the tool's code and guest directories. */
  codeDir?: string;
  guestDir?: string;
  toolVersion?: string;
}

/** Every part but the base (which may only be known once the base step has resolved it). */
export async function planParts(plan: PlanInputs, opts: PartsOptions = {}): Promise<Omit<InputParts, 'base'>> {
  const [source, guest, code, configText] = await Promise.all([
    hashTree(plan.sourceDir, sourceExcluded),
    hashTree(opts.guestDir ?? GUEST_DIR),
    hashTree(opts.codeDir ?? CODE_DIR),
    plan.configPath ? readFile(plan.configPath) : Promise.resolve(Buffer.alloc(0)),
  ]);
  return {
    source,
    // The file as written plus what the plan took from it: flags and environment count too.
    // signing only when set (the digests of builds without it stay as they were); a given
    // certificate by its fingerprint, so a new key is a new build.
    config: sha(canonical({ file: sha(configText), base: plan.base, diskSizeBytes: plan.diskSizeBytes, ...(plan.signing ? { signing: plan.signing } : {}) })),
    payload: sha(canonical(plan.payload)),
    variant: sha(canonical({ name: plan.variantName, def: plan.variant })),
    version: sha(plan.version),
    packages: sha(canonical({ base: plan.basePackages, preinstall: plan.preinstall, toolchain: plan.toolchainPackages })),
    tool: sha(canonical({ version: opts.toolVersion ?? PACKAGE_VERSION, code })),
    guest,
  };
}

/** The record for the manifest: the digest over the schema and every part, base included. */
export function inputsRecord(parts: Omit<InputParts, 'base'>, baseSha256: string | null): InputsRecord {
  const all: InputParts = { ...parts, base: baseSha256 };
  return { schema: INPUTS_SCHEMA, digest: sha(canonical({ schema: INPUTS_SCHEMA, ...all })), parts: all };
}

/** The names of the parts that differ between two records (for "out of date: source, config changed"). */
export function changedParts(a: InputParts, b: Partial<InputParts> | undefined): string[] {
  return (Object.keys(a) as Array<keyof InputParts>).filter((k) => a[k] !== b?.[k]);
}
