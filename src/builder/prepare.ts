// Stage 1, environment setup: the source tree and output path checks (run before the VM profile
// is resolved, see index.ts), the build's VM directory, the source commit.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { gitHead } from '../tools/git.js';
import type { Step } from '../pipeline/step.js';
import { acquireLock } from '../base/lock.js';
import { describeProfile } from '../vm/profile.js';
import type { BuildContext } from './context.js';

/** The source must have a Makefile with a vm-build target (the spec's contract). */
export function assertVmBuildTarget(sourceDir: string): void {
  const makefile = ['GNUmakefile', 'makefile', 'Makefile'].map((n) => join(sourceDir, n)).find((p) => existsSync(p));
  if (!makefile) {
    throw new UsageError(`${sourceDir} has no Makefile`, { hint: 'the source must provide `make vm-build` (see examples/vexfs)' });
  }
  if (!/^vm-build\s*:/m.test(readFileSync(makefile, 'utf8'))) {
    throw new UsageError(`${makefile} has no vm-build target`, { hint: 'add a vm-build target that builds vexfs.ko and vexctl (see examples/vexfs/Makefile)' });
  }
}

export function assertOutputFree(plan: Pick<BuildContext['plan'], 'outputDir' | 'force'>, imageName: string): void {
  const image = join(plan.outputDir, `${imageName}.qcow2`);
  if (existsSync(image) && !plan.force) {
    throw new UsageError(`${image} already exists`, { hint: 'pass --force to replace it, or choose another --version or --output-dir' });
  }
}

export const prepareStep: Step<BuildContext> = {
  name: 'environment',
  title: 'Environment setup',
  async run(ctx, rt) {
    rt.info(`VM profile: ${describeProfile(ctx.session.opts.profile)}`);
    await mkdir(ctx.plan.buildDir, { recursive: true });
    // One build of a variant at a time in a build directory (the kernel drops the lock when a
    // build dies, SIGKILL included); a second one is refused, not run beside it.
    const lock = await acquireLock(`${ctx.vmDir}.lock`, { mode: 'exclusive', timeoutMs: 0, purpose: `build ${ctx.plan.variantName}` });
    if (!lock) throw new UsageError(`another build of ${ctx.plan.variantName} is running in ${ctx.plan.buildDir}`, { hint: 'wait for it, or pass another --build-dir' });
    ctx.vmDirLock = lock;
    if (existsSync(ctx.vmDir)) rt.info(`removing what an earlier build left in ${ctx.vmDir}`);
    // A fresh VM directory every time: nothing from an earlier build leaks in. 0700: it holds
    // the build key, the disk and a copy of the source.
    await rm(ctx.vmDir, { recursive: true, force: true });
    await mkdir(ctx.vmDir, { recursive: true, mode: 0o700 });
    await mkdir(ctx.plan.outputDir, { recursive: true });
    ctx.sourceCommit = await gitHead(ctx.plan.sourceDir, { signal: rt.signal });
  },
  async cleanup(ctx, rt) {
    if (ctx.plan.noCleanup) rt.info(`kept ${ctx.vmDir} (--no-cleanup)`);
    else if (ctx.vmDirLock) await rm(ctx.vmDir, { recursive: true, force: true });
    await ctx.vmDirLock?.release();
  },
};
