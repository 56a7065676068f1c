// Is the published image already what this build would make? Compares the inputs digest the
// image's manifest recorded with this build's, after cheap checks that the published files are
// the ones the manifest describes. Reads only: nothing is written, locked or started.
//
// Cheap checks, chosen over re-hashing ~1 GB on every no-op: each file's size equals the
// manifest's, each .sha256 sidecar names its file with the manifest's digest, and neither image
// file was modified after the manifest was written (finalise writes the images first and
// renames, which keeps mtimes). An image changed in place (booted without an overlay, edited)
// fails the last check; only then, or when mtimes were lost (a plain `cp`), are the images
// re-hashed, so a copied but intact image is still found up to date.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BaseCache } from '../base/cache.js';
import { debianRecipe, recipeKey } from '../base/debian.js';
import { fetchText } from '../base/download.js';
import { parseBaseSpec, parseSha256Sums } from '../base/presets.js';
import type { BuildPlan } from '../config/load.js';
import { sha256File } from '../tools/hash.js';
import type { Artifacts } from './context.js';
import type { ImageManifest } from './manifest.js';
import { changedParts, type InputsRecord } from './inputs.js';
import { published } from './add-formats.js';

/**
 * The sha256 of the base this build would use, when it can be known without building or
 * downloading anything: a cached Debian base's recorded digest (resolveBase re-hashes it before
 * a build uses it), a download's published digest, a local file's hash. undefined: not cached.
 */
export async function knownBaseSha256(plan: Pick<BuildPlan, 'base' | 'cacheDir' | 'preinstall'> & Partial<Pick<BuildPlan, 'arch'>>, opts: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<string | undefined> {
  const env = opts.env ?? process.env;
  const src = parseBaseSpec(plan.base, { ubuntuMirror: env.VEXFS_IMAGE_UBUNTU_MIRROR });
  if (src.kind === 'local') return sha256File(src.path);
  if (src.kind === 'download') {
    if (src.sha256) return src.sha256;
    if (!src.checksumsUrl) return undefined;
    return parseSha256Sums(await fetchText(src.checksumsUrl, { signal: opts.signal })).get(src.fileName);
  }
  const recipe = await debianRecipe(src.preset, { mirror: env.VEXFS_IMAGE_DEBIAN_MIRROR, securityMirror: env.VEXFS_IMAGE_DEBIAN_SECURITY_MIRROR, extraPackages: plan.preinstall, ...(plan.arch ? { arch: plan.arch } : {}) });
  const entry = await new BaseCache(plan.cacheDir).readEntry(recipeKey(recipe));
  return entry?.sha256;
}

export type PublishedState =
  | { state: 'absent' }
  | { state: 'up-to-date'; artifacts: Artifacts; checks: 'cheap' | 'rehashed'; manifest: ImageManifest }
  /** Exists, but is not this build's image: why says what differs or does not verify. */
  | { state: 'stale'; why: string };

async function sidecarDigest(path: string, name: string): Promise<string | undefined> {
  const m = /^([0-9a-f]{64}) [ *](.+)\n?$/.exec(await readFile(path, 'utf8').catch(() => ''));
  return m && m[2] === name ? m[1] : undefined;
}

/** What is wrong with the published files, or undefined when they are the manifest's. */
async function verifyFiles(dir: string, m: ImageManifest, manifestMtimeMs: number): Promise<{ problem?: string; rehashed: boolean }> {
  const files = [m.files.image, m.files.compressed];
  let rehash = false;
  for (const f of files) {
    const st = await stat(join(dir, f.name)).catch(() => undefined);
    if (!st) return { problem: `${f.name} is missing`, rehashed: false };
    if (st.size !== f.size) return { problem: `${f.name} is ${st.size} bytes, the manifest says ${f.size}`, rehashed: false };
    if ((await sidecarDigest(join(dir, `${f.name}.sha256`), f.name)) !== f.sha256) return { problem: `${f.name}.sha256 does not match the manifest`, rehashed: false };
    if (st.mtimeMs > manifestMtimeMs) rehash = true;
  }
  if (rehash) {
    for (const f of files) {
      if ((await sha256File(join(dir, f.name))) !== f.sha256) return { problem: `${f.name} was modified after it was published (its sha256 differs)`, rehashed: true };
    }
  }
  return { rehashed: rehash };
}

export async function publishedState(outputDir: string, imageName: string, inputs: InputsRecord): Promise<PublishedState> {
  const image = join(outputDir, `${imageName}.qcow2`);
  const jsonPath = join(outputDir, `${imageName}.json`);
  const imageSt = await stat(image).catch(() => undefined);
  if (!imageSt) return { state: 'absent' };
  let m: ImageManifest;
  let jsonSt;
  try {
    jsonSt = await stat(jsonPath);
    m = JSON.parse(await readFile(jsonPath, 'utf8')) as ImageManifest;
  } catch {
    return { state: 'stale', why: `it has no readable manifest ${imageName}.json` };
  }
  if (m.schema !== 'vexfs-image/manifest@1' || m.files?.image?.name !== `${imageName}.qcow2` || !m.files.compressed?.name) return { state: 'stale', why: `${imageName}.json is not its manifest` };
  const recorded = m.inputs;
  if (!recorded?.digest) return { state: 'stale', why: 'its manifest records no inputs digest (built by an older vexfs-image)' };
  if (recorded.schema !== inputs.schema) return { state: 'stale', why: `its inputs digest is of another kind (schema ${recorded.schema})` };
  if (recorded.digest !== inputs.digest) {
    const changed = changedParts(inputs.parts, recorded.parts);
    const named = changed.map((k) => (k === 'base' && inputs.parts.base === null ? 'base (not in the cache)' : k));
    return { state: 'stale', why: `its inputs changed: ${named.join(', ') || 'digest'}` };
  }
  const v = await verifyFiles(outputDir, m, jsonSt.mtimeMs);
  if (v.problem) return { state: 'stale', why: v.problem };
  const manifestText = join(outputDir, `${imageName}.manifest`);
  return {
    state: 'up-to-date',
    checks: v.rehashed ? 'rehashed' : 'cheap',
    manifest: m,
    artifacts: {
      image,
      imageSha256: m.files.image.sha256,
      imageSize: m.files.image.size,
      compressed: join(outputDir, m.files.compressed.name),
      compressedSha256: m.files.compressed.sha256,
      compressedSize: m.files.compressed.size,
      ...(m.files.formats?.length ? { formats: published(outputDir, m.files.formats) } : {}),
      manifestJson: jsonPath,
      manifestText,
    },
  };
}
