// Stage 1, environment setup: host tools, accelerator, source tree, output path, build dir.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertReady, doctor } from '../doctor.js';
import { UsageError } from '../errors.js';
import { run } from '../tools/exec.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from './context.js';

const BUILD_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'];

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

export function assertOutputFree(ctx: BuildContext): void {
  const image = join(ctx.plan.outputDir, `${ctx.imageName}.qcow2`);
  if (existsSync(image) && !ctx.plan.force) {
    throw new UsageError(`${image} already exists`, { hint: 'pass --force to replace it, or choose another --version or --output-dir' });
  }
}

export const prepareStep: Step<BuildContext> = {
  name: 'environment',
  title: 'Environment setup',
  async run(ctx, rt) {
    assertVmBuildTarget(ctx.plan.sourceDir);
    assertOutputFree(ctx);
    const report = await doctor({ cacheDir: ctx.plan.cacheDir, signal: rt.signal });
    assertReady(report, BUILD_TOOLS);
    ctx.accel = report.accelerator?.chosen;
    for (const t of report.tools) if (t.version) ctx.toolVersions[t.name] = t.version;
    rt.info(`accelerator: ${ctx.accel}${report.accelerator?.kvm.usable ? '' : ` (KVM: ${report.accelerator?.kvm.reason})`}`);
    // A fresh VM directory every time: nothing from an earlier build leaks in.
    await rm(ctx.vmDir, { recursive: true, force: true });
    await mkdir(ctx.vmDir, { recursive: true });
    await mkdir(ctx.plan.outputDir, { recursive: true });
    const git = await run('git', ['-C', ctx.plan.sourceDir, 'rev-parse', 'HEAD'], { allowFailure: true, timeoutMs: 10_000 }).catch(() => undefined);
    if (git?.exitCode === 0) ctx.sourceCommit = git.stdout.trim();
  },
  async cleanup(ctx, rt) {
    if (ctx.plan.noCleanup) {
      rt.info(`kept ${ctx.vmDir} (--no-cleanup)`);
      return;
    }
    await rm(ctx.vmDir, { recursive: true, force: true });
  },
};
