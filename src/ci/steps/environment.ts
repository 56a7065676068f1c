// CI stage 1: the host tools that build and validate need, and the accelerator every VM uses.
import { resolve } from 'node:path';
import { VALIDATE_DEFAULTS } from '../../validate/index.js';
import { resolveVmProfile } from '../../vm/profile.js';
import { defaultCacheDir } from '../../paths.js';
import { JOB_TOOLS } from '../../tools/host-tools.js';
import type { Step } from '../../pipeline/step.js';
import type { CiContext } from '../context.js';
import { STAGE_TITLES } from '../stages.js';

export const environmentStep: Step<CiContext> = {
  name: 'environment',
  title: STAGE_TITLES.environment!,
  async run(ctx) {
    const flag = ctx.opts.buildFlags.cacheDir;
    const cacheDir = flag ? resolve(ctx.opts.cwd, flag) : defaultCacheDir(ctx.opts.env);
    const { profile, report } = await resolveVmProfile({
      memoryMb: VALIDATE_DEFAULTS.memoryMb,
      cpus: VALIDATE_DEFAULTS.cpus,
      cacheDir,
      tools: JOB_TOOLS.ci,
      signal: ctx.opts.signal,
      doctor: ctx.deps.doctor,
    });
    const accel = profile.accel;
    ctx.accel = accel;
    ctx.stages.describe('environment', { detail: `host tools present; accelerator ${accel}${report.accelerator?.kvm.usable === false ? ' (KVM unusable)' : ''}` });
  },
};
