// A minimal image built once and shared by the e2e tests that need one (build, validate).
// Building costs minutes under TCG, so the result is cached under the user cache directory,
// keyed by a hash of everything that goes into it (sources, guest files, example tree,
// lockfile): any change to those rebuilds it. Set VEXFS_TEST_REBUILD=1 to force a build.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { defaultCacheDir, PACKAGE_ROOT } from '../../src/paths.js';

const INPUTS = ['src', 'guest', 'examples/vexfs', 'package-lock.json'];
const SKIP = new Set(['target', 'node_modules', '.git']);

function hashTree(h: ReturnType<typeof createHash>, path: string): void {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path).sort()) if (!SKIP.has(name) && !/\.(o|ko|mod|cmd)$/.test(name)) hashTree(h, join(path, name));
  } else {
    h.update(relative(PACKAGE_ROOT, path));
    h.update(readFileSync(path));
  }
}

export function inputsKey(): string {
  const h = createHash('sha256');
  for (const p of INPUTS) hashTree(h, join(PACKAGE_ROOT, p));
  return h.digest('hex').slice(0, 16);
}

export interface BuiltImage {
  dir: string;
  image: string;
  name: string;
  version: string;
  variant: string;
  /** How long the build took when it ran now, or undefined when it came from the cache. */
  buildMs?: number;
  stdout: string;
  stderr: string;
}

export const TEST_VERSION = '0.9.1-test';

/** How old another inputs' cached image must be before a run removes it. */
const STALE_MS = 6 * 3600_000;

/** copy: a second, independent build from the same inputs (the reproducibility e2e), cached beside the first. */
export async function ensureBuiltImage(variant = 'minimal', copy = ''): Promise<BuiltImage> {
  const root = join(defaultCacheDir(), 'test-images', `${variant}-${inputsKey()}${copy ? `-${copy}` : ''}`);
  const name = `vexfs-${variant}-${TEST_VERSION}`;
  const image = join(root, `${name}.qcow2`);
  const result = { dir: root, image, name, version: TEST_VERSION, variant, stdout: '', stderr: '' };
  if (existsSync(image) && process.env.VEXFS_TEST_REBUILD !== '1') return result;

  // Only the current inputs' image is worth keeping: drop the ones earlier code built, once they
  // are a few hours old (another checkout's test run may be using its image right now).
  const parent = join(defaultCacheDir(), 'test-images');
  if (existsSync(parent)) {
    for (const old of readdirSync(parent)) {
      const p = join(parent, old);
      if (old.startsWith(`${variant}-`) && !old.startsWith(`${variant}-${inputsKey()}`) && Date.now() - statSync(p).mtimeMs > STALE_MS) await rm(p, { recursive: true, force: true });
    }
  }
  const tmp = `${root}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const t0 = Date.now();
  const r = spawnSync(
    join(PACKAGE_ROOT, 'bin', 'vexfs-image'),
    ['build', '--variant', variant, '--version', TEST_VERSION, '--output-dir', tmp, '--build-dir', join(tmp, 'build'), '--timeout', '1500'],
    { encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 1_800_000 },
  );
  if (r.status !== 0) {
    throw new Error(`vexfs-image build failed (exit ${r.status}):\n${r.stderr.slice(-4000)}`);
  }
  await rm(join(tmp, 'build'), { recursive: true, force: true });
  await rm(root, { recursive: true, force: true });
  await rename(tmp, root);
  return { ...result, buildMs: Date.now() - t0, stdout: r.stdout, stderr: r.stderr };
}
