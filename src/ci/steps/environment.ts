// CI stage 1: the host tools that build and validate need, and the accelerator every VM uses.
import { resolve } from 'node:path';
import { resolveAccelerator } from '../../host-accelerator.js';
import { defaultCacheDir } from '../../paths.js';
import type { Step } from '../../pipeline/step.js';
import type { CiContext } from '../context.js';
import { STAGE_TITLES } from '../stages.js';

/** Host tools build and validate need (build's own environment step checks again). */
export const CI_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'];

export const environmentStep: Step<CiContext> = {
  name: 'environment',
  title: STAGE_TITLES.environment!,
  async run(ctx) {
    const flag = ctx.opts.buildFlags.cacheDir;
    const cacheDir = flag ? resolve(ctx.opts.cwd, flag) : defaultCacheDir(ctx.opts.env);
    const { accel, report } = await resolveAccelerator({ cacheDir, tools: CI_TOOLS, signal: ctx.opts.signal, doctor: ctx.deps.doctor });
    ctx.accel = accel;
    ctx.stages.describe('environment', { detail: `host tools present; accelerator ${accel}${report.accelerator?.kvm.usable === false ? ' (KVM unusable)' : ''}` });
  },
};
