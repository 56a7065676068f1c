// Base images, one entry point: resolveBase(spec) → a verified image path in the cache (or the
// user's own file, untouched). Debian presets are built from packages, Ubuntu presets and URLs
// are downloaded and checked against SHA256SUMS, local paths are inspected.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { sha256File } from '../tools/hash.js';
import { checkImageChain, imageInfo } from '../tools/qemu-img.js';
import { BaseCache, type CacheEntry } from './cache.js';
import type { Lock } from './lock.js';
import { buildDebianBase, debianRecipe, recipeKey, type RecipeOptions } from './debian.js';
import { downloadVerified, fetchText, type DownloadProgress } from './download.js';
import { assertPlainFileName } from './file-name.js';
import { inspectLocalImage } from './local.js';
import { parseBaseSpec, parseSha256Sums, type BaseSource } from './presets.js';
import { removeTree } from './safe-remove.js';
import type { Arch } from '../arch.js';

export { BaseCache } from './cache.js';
export { DEFAULT_DISTRO, PRESET_NAMES, parseBaseSpec } from './presets.js';
export type { DownloadProgress } from './download.js';
export type { Lock } from './lock.js';

export interface ResolveBaseOptions {
  cacheDir: string;
  signal?: AbortSignal;
  logFile?: string;
  /** Progress and notices for humans (stderr). */
  onInfo?: (msg: string) => void;
  onProgress?: (p: DownloadProgress) => void;
  /** --checksum sha256:... for a downloaded image. */
  checksum?: string;
  /** Ignore (and replace) a valid cache entry. */
  rebuild?: boolean;
  env?: NodeJS.ProcessEnv;
  debian?: RecipeOptions;
  /** The guest architecture (default amd64): a Debian preset is built for it. */
  arch?: Arch;
  /**
   * Return with the base's shared "in use" lock held (ResolvedBase.inUse): a build passes true and
   * releases it when it ends, so `cache prune` and rebuilds leave the base its overlay is backed
   * by alone. Without it, the lock is released before resolveBase returns.
   */
  hold?: boolean;
  /** Download retries (tests lower it). */
  retries?: number;
  retryDelayMs?: number;
}

export interface ResolvedBase {
  path: string;
  format: string;
  virtualSize: number;
  /** sha256:<hex> of the image file. */
  digest: string;
  /** debian-13 (built), the URL (downloaded) or the local path. */
  source: string;
  kind: 'debian' | 'download' | 'local';
  /** True when it came from the cache without building or downloading. */
  cached: boolean;
  cacheKey?: string;
  /** With opts.hold, a cached base's shared lock: release it (or `await using`) when done with the base. */
  inUse?: Lock;
}

export async function resolveBase(spec: string, opts: ResolveBaseOptions): Promise<ResolvedBase> {
  const env = opts.env ?? process.env;
  const src = parseBaseSpec(spec, { checksum: opts.checksum, ubuntuMirror: env.VEXFS_IMAGE_UBUNTU_MIRROR });
  return resolveSource(src, opts);
}

export async function resolveSource(src: BaseSource, opts: ResolveBaseOptions): Promise<ResolvedBase> {
  const exec = { signal: opts.signal, logFile: opts.logFile };
  if (src.kind === 'local') {
    const img = await inspectLocalImage(src.path, { ...exec, cacheDir: opts.cacheDir });
    opts.onInfo?.(`local image ${img.path}: ${img.format}, virtual size ${img.virtualSize} bytes`);
    return { path: img.path, format: img.format, virtualSize: img.virtualSize, digest: `sha256:${await sha256File(img.path)}`, source: img.path, kind: 'local', cached: false };
  }
  const cache = new BaseCache(opts.cacheDir);
  const env = opts.env ?? process.env;
  if (src.kind === 'debian') {
    const recipe = await debianRecipe(src.preset, {
      mirror: env.VEXFS_IMAGE_DEBIAN_MIRROR,
      securityMirror: env.VEXFS_IMAGE_DEBIAN_SECURITY_MIRROR,
      ...(opts.arch ? { arch: opts.arch } : {}),
      ...opts.debian,
    });
    const key = recipeKey(recipe);
    return cached(cache, key, opts, 'debian', src.preset.name, async (stage) => {
      const started = Date.now();
      const file = 'base.qcow2';
      opts.onInfo?.(`building ${key} (${recipe.architecture})`);
      const t = await buildDebianBase(recipe, join(stage, file), stage, { ...exec, onInfo: opts.onInfo });
      const info = await imageInfo(join(stage, file), exec);
      return {
        meta: {
          kind: 'debian',
          name: src.preset.name,
          source: `mmdebstrap ${recipe.suite} from ${recipe.mirror}`,
          file,
          format: info.format,
          virtualSize: info.virtualSize,
          recipe,
          info: { mmdebstrap: t.mmdebstrap, buildMs: Date.now() - started, mmdebstrapMs: t.mmdebstrapMs, diskMs: t.diskMs, convertMs: t.convertMs },
        },
      };
    });
  }
  // Downloads: the key is the publisher's digest, known before a byte of the image is fetched.
  let sha256 = src.sha256;
  const dl = { signal: opts.signal, onInfo: opts.onInfo, onProgress: opts.onProgress, retries: opts.retries, retryDelayMs: opts.retryDelayMs };
  if (!sha256) {
    if (!src.checksumsUrl) throw new UsageError(`no checksum for ${src.url}`, { hint: 'pass --checksum sha256:<hex>' });
    const sums = parseSha256Sums(await fetchText(src.checksumsUrl, dl));
    sha256 = sums.get(src.fileName);
    if (!sha256) {
      throw new UsageError(`${src.checksumsUrl} lists no ${src.fileName}`, { hint: 'pass --checksum sha256:<hex> for an image without a SHA256SUMS entry' });
    }
  }
  const expected = sha256;
  const fileName = assertPlainFileName(src.fileName, 'the downloaded file name');
  const key = `download-${expected.slice(0, 16)}`;
  return cached(
    cache,
    key,
    opts,
    'download',
    src.url,
    async (stage) => {
      const part = cache.partialPath(expected);
      opts.onInfo?.(`downloading ${src.url}`);
      await downloadVerified(src.url, part, expected, dl);
      // Verified: only now does it get its real name.
      await rename(part, join(stage, fileName));
      // A downloaded image must stand alone: a backing or data file it names would be a host
      // file (or a protocol URL) QEMU opens for the guest.
      const info = await checkImageChain(join(stage, fileName), {}, exec);
      if (info.chain.length > 1) throw new UsageError(`${src.url} is an overlay with a backing file (${info.backingFile}); a downloaded base must be a standalone image.`);
      return { meta: { kind: 'download', name: src.name, source: src.url, file: fileName, format: info.format, virtualSize: info.virtualSize, info: { upstreamSha256: expected } }, sha256: expected };
    },
    (entry) => entry.sha256 === expected,
  );
}

type Produce = (stage: string) => Promise<{ meta: Parameters<BaseCache['commit']>[2]; sha256?: string }>;

/**
 * The cached entry for key, or produce() it under the key's exclusive lock. A valid entry is
 * found under the shared lock, so builds that use the same base do not wait for each other; a
 * second run waiting on the exclusive lock finds the entry made by the first and returns at once.
 * With opts.hold the shared lock is kept and returned (an exclusive one is downgraded to it
 * without letting go, so prune can never slip in between).
 */
async function cached(
  cache: BaseCache,
  key: string,
  opts: ResolveBaseOptions,
  kind: ResolvedBase['kind'],
  source: string,
  produce: Produce,
  accept: (e: CacheEntry) => boolean = () => true,
): Promise<ResolvedBase> {
  const onWait = (o: { pid: number } | undefined): void => opts.onInfo?.(`waiting for another vexfs-image${o ? ` (pid ${o.pid})` : ''} working on ${key}`);
  const finish = async (lock: Lock, entry: CacheEntry, wasCached: boolean): Promise<ResolvedBase> => {
    if (!opts.hold) {
      await lock.release();
      return toResolved(cache, entry, kind, wasCached);
    }
    await lock.downgrade();
    return { ...toResolved(cache, entry, kind, wasCached), inUse: lock };
  };
  if (!opts.rebuild) {
    const shared = await cache.lock(key, { mode: 'shared', signal: opts.signal, purpose: `use ${source}`, onWait });
    try {
      const entry = await cache.lookup(key, { onInfo: opts.onInfo, discard: false });
      if (entry && accept(entry)) return await finish(shared, entry, true);
    } catch (e) {
      await shared.release();
      throw e;
    }
    await shared.release();
  }
  const lock = await cache.lock(key, { signal: opts.signal, purpose: `resolve ${source}`, onWait });
  try {
    let entry = opts.rebuild ? undefined : await cache.lookup(key, { onInfo: opts.onInfo });
    if (entry && !accept(entry)) entry = undefined;
    if (entry) return await finish(lock, entry, true);
    const stage = await cache.stage(key);
    try {
      const { meta, sha256 } = await produce(stage);
      entry = await cache.commit(key, stage, meta, sha256);
    } finally {
      await removeTree(stage).catch(() => undefined); // gone already after a successful commit
    }
    return await finish(lock, entry, false);
  } catch (e) {
    await lock.release();
    throw e;
  }
}

function toResolved(cache: BaseCache, e: CacheEntry, kind: ResolvedBase['kind'], wasCached: boolean): ResolvedBase {
  return { path: cache.imagePath(e), format: e.format, virtualSize: e.virtualSize, digest: `sha256:${e.sha256}`, source: e.kind === 'debian' ? e.name : e.source, kind, cached: wasCached, cacheKey: e.key };
}
