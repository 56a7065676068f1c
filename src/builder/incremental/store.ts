// The incremental build's cache: for each set of inputs but the source (config, payload,
// variant, version, packages, base, tool, guest scripts, architecture), the last image built
// from them, with what the build VM told about it (kernel, package database, licences). A build
// whose inputs differ from an entry's only in the source starts from that image and replaces only
// what the source makes (incremental/index.ts).
//
// <cache>/incremental/<key>/entry.json + image.qcow2 (a hard link to the published image, or a
// copy across file systems). An entry is used only when its entry.json is of this format and key
// and the image's sha256 is the one recorded (a published image edited in place changes the
// linked file too); anything else is replaced by the next build, never used. Readers hold a
// shared lock for as long as the image backs their overlay; an entry is replaced only under the
// exclusive lock (taken without waiting: a busy entry is left for the next build), in a staging
// directory renamed into place, so an interrupted build leaves the entry it found.
import { copyFile, link, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lock } from '../../base/lock.js';
import { entryDirOf, openKeyed, writeKeyed, type KeyedStore } from '../../base/keyed-entry.js';
import type { Arch } from '../../arch.js';
import { sha256File, sha256Of } from '../../tools/hash.js';
import type { BaseInfo, GuestFacts } from '../context.js';
import { canonical, type InputParts } from '../inputs.js';
import type { SupplyFacts } from '../../supply/inventory.js';

/** Bump when an entry's meaning changes: older entries are then never used. */
export const ENTRY_FORMAT = 1;

export interface IncrementalEntry {
  format: number;
  key: string;
  /** The source part of the inputs the image was built from. */
  source: string;
  image: { sha256: string; size: number };
  kernelRelease: string;
  base: BaseInfo;
  /** What the build VM reported (build-in-vm, variant): the manifest's facts. */
  guest: GuestFacts;
  /** The SBOM's inputs read in the build VM: the package database and licences as they ship. */
  supply: Pick<SupplyFacts, 'dpkgStatus' | 'licences'>;
}

/** Every input but the source: what an entry must share with a build to be its starting point. */
export function entryKey(parts: Omit<InputParts, 'base'>, baseSha256: string, arch: Arch): string {
  const { source: _source, ...rest } = parts;
  return sha256Of(canonical({ format: ENTRY_FORMAT, arch, base: baseSha256, ...rest }));
}

const store = (cacheDir: string): KeyedStore => ({ root: join(cacheDir, 'incremental'), format: ENTRY_FORMAT });
export const entryDir = (cacheDir: string, key: string): string => entryDirOf(store(cacheDir), key);

export type OpenedEntry = { entry: IncrementalEntry; image: string; lock: Lock } | { why: string };

/**
 * The entry for key, verified (format, key, the image's sha256), with a shared lock the caller
 * releases once nothing reads the image any more; or why there is none to use.
 */
export async function openEntry(cacheDir: string, key: string, opts: { signal?: AbortSignal } = {}): Promise<OpenedEntry> {
  const opened = await openKeyed<IncrementalEntry>(store(cacheDir), key, {
    purpose: 'incremental build',
    missing: 'no earlier image built from these inputs is cached',
    foreign: 'the cached entry is of another format or other inputs',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if ('why' in opened) return { why: opened.why };
  const { entry, dir, lock } = opened;
  const fail = async (why: string): Promise<OpenedEntry> => {
    await lock.release();
    return { why };
  };
  const image = join(dir, 'image.qcow2');
  const st = await stat(image).catch(() => undefined);
  if (!st || st.size !== entry.image.size) return fail('the cached image is missing or not the size recorded');
  if ((await sha256File(image)) !== entry.image.sha256) return fail('the cached image is not the one recorded (its sha256 differs)');
  // When it was last used, for `cache prune --older-than` (base/derived-cache.ts).
  const now = new Date();
  await utimes(join(dir, 'entry.json'), now, now).catch(() => undefined);
  return { entry, image, lock };
}

/**
 * Makes (or replaces) the entry for key from a published image. Returns false when another build
 * holds the entry (it is then left as it is).
 */
export async function recordEntry(cacheDir: string, entry: IncrementalEntry, publishedImage: string): Promise<boolean> {
  return writeKeyed(store(cacheDir), entry.key, 'record an incremental entry', async (stage) => {
    // A hard link costs nothing; across file systems, a copy.
    await link(publishedImage, join(stage, 'image.qcow2')).catch(() => copyFile(publishedImage, join(stage, 'image.qcow2')));
    await writeFile(join(stage, 'entry.json'), `${JSON.stringify(entry)}\n`);
  });
}
