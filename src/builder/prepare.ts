// Stage 1, environment setup: host tools, accelerator, source tree, output path, build dir.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { assertReady, doctor } from '../doctor.js';
import { UsageError } from '../errors.js';
import { run } from '../tools/exec.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from './context.js';
import { DEFAULT_PAYLOAD } from '../config/payload.js';
import type { Payload } from '../config/payload-types.js';

const BUILD_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'];

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
    assertVmBuildTarget(ctx.plan.sourceDir, ctx.plan.payload);
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
