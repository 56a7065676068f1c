// Stage 3, base image: resolve (build or fetch, cached) the base the build VM's overlay is
// backed by (the session's overlay step grows it to --disk-size). The base is never written to.
import { resolveBase } from '../base/index.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from './context.js';

export const baseImageStep: Step<BuildContext> = {
  name: 'base-image',
  title: 'Base image',
  async run(ctx, rt) {
    const preinstall = ctx.plan.preinstall;
    if (preinstall.length > 0) rt.info(`packages built into the base: ${preinstall.join(' ')}`);
    const base = await resolveBase(ctx.plan.base, {
      cacheDir: ctx.plan.cacheDir,
      signal: rt.signal,
      logFile: rt.logFile,
      onInfo: rt.info,
      debian: { extraPackages: preinstall },
      arch: ctx.plan.arch,
      // A shared lock for the build's whole life: `cache prune` (exclusive) cannot remove it.
      hold: true,
    });
    ctx.baseLock = base.inUse;
    ctx.base = { path: base.path, format: base.format, digest: base.digest, source: base.source };
    ctx.session.backing = { path: base.path, format: base.format };
    rt.info(`base ${ctx.plan.base}: ${base.path}`);
  },
  async cleanup(ctx) {
    await ctx.baseLock?.release();
  },
};
