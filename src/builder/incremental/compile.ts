// The incremental build's compile: the build half of guest/build/build-payload.sh (the build
// VM's own code) natively on the host, in a chroot of the base's root (quick/root.ts: the base's
// compiler, headers and cargo, as the build VM has them), at the build VM's path /usr/src/vexfs,
// so the module and tools are byte for byte what a full build makes (paths end up in debug info).
// /usr/src/vexfs is a directory of the cache bound there for this run only: one per source tree
// and base, synced from the source with its mtimes and kept between builds, so make and cargo
// rebuild only what changed.
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { acquireLock } from '../../base/lock.js';
import { GuestError } from '../../errors.js';
import { GUEST_DIR } from '../../paths.js';
import { sha256Of } from '../../tools/hash.js';
import { runInRoot, syncTree } from '../../quick/compile.js';
import type { KernelRoot } from '../../quick/root.js';
import { numberedResults, parseResults } from '../guest-run.js';
import { missingArtifactError } from '../build-in-vm.js';
import type { Payload } from '../../config/payload-types.js';

/** Where the build VM builds (build-payload.sh's $dest). */
const GUEST_TREE = '/usr/src/vexfs';

export interface HostBuild {
  /** Each artifact the build half found: kind, name, and its host path. */
  found: Array<{ kind: 'module' | 'tool'; name: string; file: string }>;
  ms: number;
}

export const treeDir = (cacheDir: string, root: KernelRoot, sourceDir: string): string => join(cacheDir, 'incremental', 'trees', sha256Of(`${root.sha256}\0${sourceDir}`).slice(0, 24));

export async function compileOnHost(
  root: KernelRoot,
  o: { cacheDir: string; sourceDir: string; payload: Payload; version: string; spec: string },
  opts: { signal?: AbortSignal; logFile?: string } = {},
): Promise<HostBuild> {
  const t0 = Date.now();
  const tree = treeDir(o.cacheDir, root, o.sourceDir);
  await mkdir(join(o.cacheDir, 'incremental', 'trees'), { recursive: true, mode: 0o700 });
  // One build in a tree at a time (two variants of one source share it).
  const lock = await acquireLock(`${tree}.flock`, { mode: 'exclusive', ...(opts.signal ? { signal: opts.signal } : {}), purpose: `build ${o.sourceDir}` });
  const script = `/tmp/vexfs-image-build-payload-${randomUUID().slice(0, 8)}.sh`;
  try {
    await syncTree(o.sourceDir, tree);
    await copyFile(join(GUEST_DIR, 'build', 'build-payload.sh'), join(root.dir, script));
    // CARGO_HOME in the build's own directory (the build VM's /root/.cargo is root's): cargo's caches only, not in any output.
    const r = await runInRoot(root.dir, [`VEXFS_IMAGE_KERNEL=${root.kernelRelease}`, `CARGO_HOME=${GUEST_TREE}/.cargo-home`, 'bash', script, 'build', '-', o.version, o.spec], { bind: { dir: tree, at: GUEST_TREE }, own: GUEST_TREE, ...opts });
    const log = `${r.stdout}\n${r.stderr}`;
    if (r.exitCode !== 0) {
      throw new GuestError(`the build (${o.payload.buildCommand}) failed against ${root.kernelRelease}'s headers in the base's root (exit ${r.exitCode}):\n${log.trim().split('\n').slice(-25).join('\n')}`, { hint: opts.logFile ? `see ${opts.logFile}` : undefined });
    }
    const results = parseResults(r.stdout);
    const missing = missingArtifactError(results, o.payload.buildCommand);
    if (missing) throw missing;
    const found = numberedResults(results, 'found').map(([kind, name, path]) => {
      const rel = relative(GUEST_TREE, path ?? '');
      if (rel.startsWith('..') || (kind !== 'module' && kind !== 'tool')) throw new Error(`incremental build: unexpected artifact ${kind} ${name} at ${path}`);
      return { kind, name: name ?? '', file: join(tree, rel) } as HostBuild['found'][number];
    });
    return { found, ms: Date.now() - t0 };
  } finally {
    await rm(join(root.dir, script), { force: true });
    await lock.release();
  }
}
