// Stage 3, base image: resolve (build or fetch, cached) the base, then a qcow2 overlay on it
// grown to --disk-size. The cached base is never written to.
import { join } from 'node:path';
import { resolveBase } from '../base/index.js';
import { createOverlay } from '../tools/qemu-img.js';
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
    });
    ctx.base = { path: base.path, format: base.format, digest: base.digest, source: base.source };
    rt.info(`base ${ctx.plan.base}: ${base.path}`);
    ctx.disk = join(ctx.vmDir, 'disk.qcow2');
    await createOverlay(base.path, ctx.disk, { sizeBytes: ctx.plan.diskSizeBytes, signal: rt.signal, logFile: rt.logFile });
  },
};
