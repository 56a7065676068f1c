// Stage 1, environment setup: the source tree and output path checks (run before the VM profile
// is resolved, see index.ts), the build's VM directory, the source commit.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { gitHead } from '../tools/git.js';
import type { Step } from '../pipeline/step.js';
import { acquireLock, type Lock } from '../base/lock.js';
import { removeOrphans } from '../tools/owned-dir.js';
import { describeProfile } from '../vm/profile.js';
import { isPartialDirName, type BuildContext } from './context.js';
import { DEFAULT_PAYLOAD } from '../config/payload.js';
import type { Payload } from '../config/payload-types.js';

/** The Makefile make would read in a directory, if any. */
function makefileIn(dir: string): string | undefined {
  return ['GNUmakefile', 'makefile', 'Makefile'].map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * What can be known about the build before a VM boots: the build directory holds a Makefile with
 * the target of a plain `make TARGET` build command (the spec's `make vm-build` by default).
 * Other commands are the project's business and are not second-guessed.
 */
export function assertVmBuildTarget(sourceDir: string, payload: Pick<Payload, 'buildDirectory' | 'buildCommand'> = DEFAULT_PAYLOAD): void {
  const m = /^\s*make((?:\s+-\S+)*)\s+([A-Za-z0-9_.-]+)\s*$/.exec(payload.buildCommand);
  if (!m || /\s-(C|f)\b/.test(m[1] ?? '')) return;
  const target = m[2]!;
  const dir = join(sourceDir, payload.buildDirectory);
  const makefile = makefileIn(dir);
  const isDefault = payload.buildCommand === DEFAULT_PAYLOAD.buildCommand;
  if (!makefile) {
    throw new UsageError(`${dir} has no Makefile`, {
      hint: isDefault ? 'the source must provide `make vm-build` (see examples/vexfs), or declare its build in vexfs-image.yaml (vexfs-image init writes one)' : `the build command \`${payload.buildCommand}\` runs make in ${dir}`,
    });
  }
  const escaped = target.replace(/[.]/g, '\\.');
  if (!new RegExp(`^${escaped}\\s*:`, 'm').test(readFileSync(makefile, 'utf8'))) {
    throw new UsageError(`${makefile} has no ${target} target`, {
      hint: isDefault
        ? 'add a vm-build target that builds vexfs.ko and vexctl (see examples/vexfs/Makefile), or pass --build-command / set payload.build.command (vexfs-image init writes a config)'
        : `the build command is \`${payload.buildCommand}\`: add the target or change the command`,
    });
  }
}

export function assertOutputFree(plan: Pick<BuildContext['plan'], 'outputDir' | 'force'>, imageName: string): void {
  const image = join(plan.outputDir, `${imageName}.qcow2`);
  if (existsSync(image) && !plan.force) {
    throw new UsageError(`${image} already exists`, { hint: 'pass --force to replace it, or choose another --version or --output-dir' });
  }
}

/** The lock one build of a variant (per architecture) holds in its build directory: beside the VM directory it guards. */
export const buildLockPath = (buildDir: string, vmDir: string): string => join(buildDir, `.${basename(vmDir)}.lock`);

/** Takes that lock, or refuses (exit 2): another build of the variant is running there. */
export async function lockBuild(lockFile: string, variantName: string, purpose: string): Promise<Lock> {
  await mkdir(dirname(lockFile), { recursive: true });
  const lock = await acquireLock(lockFile, { mode: 'exclusive', timeoutMs: 0, purpose });
  if (!lock) throw new UsageError(`another build of ${variantName} is running in ${dirname(lockFile)}`, { hint: 'wait for it, or pass another --build-dir' });
  return lock;
}

export const prepareStep: Step<BuildContext> = {
  name: 'environment',
  title: 'Environment setup',
  async run(ctx, rt) {
    rt.info(`VM profile: ${describeProfile(ctx.session.opts.profile)}`);
    await mkdir(ctx.plan.buildDir, { recursive: true });
    // One build of a variant at a time in a build directory (the kernel drops the lock when a
    // build dies, SIGKILL included); a second one is refused, not run beside it.
    // The lock file stays (removing it would let a third build lock a new file of the same name);
    // hidden, beside the VM directory it guards.
    ctx.vmDirLock = await lockBuild(buildLockPath(ctx.plan.buildDir, ctx.vmDir), ctx.plan.variantName, `build ${ctx.plan.variantName}`);
    if (existsSync(ctx.vmDir)) rt.info(`removing what an earlier build left in ${ctx.vmDir}`);
    // A fresh VM directory every time: nothing from an earlier build leaks in. 0700: it holds
    // the build key, the disk and a copy of the source.
    await rm(ctx.vmDir, { recursive: true, force: true });
    await mkdir(ctx.vmDir, { recursive: true, mode: 0o700 });
    await mkdir(ctx.plan.outputDir, { recursive: true });
    for (const o of await removeOrphans(ctx.plan.outputDir, isPartialDirName)) {
      rt.warn(`removed ${o.dir}: the unfinished output of a build that was killed (pid ${o.pid} is gone)`);
    }
    ctx.sourceCommit = await gitHead(ctx.plan.sourceDir, { signal: rt.signal });
  },
  async cleanup(ctx, rt) {
    if (ctx.plan.noCleanup) rt.info(`kept ${ctx.vmDir} (--no-cleanup)`);
    else if (ctx.vmDirLock) await rm(ctx.vmDir, { recursive: true, force: true });
    await ctx.vmDirLock?.release();
  },
};
