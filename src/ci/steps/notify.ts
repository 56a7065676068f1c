// CI stage 7: POST the summary to a webhook. Reported, never fatal: a failed notification fails
// this stage only, and the run's result does not count it.
import type { Step } from '../../pipeline/step.js';
import { finishManifest, type CiContext } from '../context.js';
import { buildPayload, notify as defaultNotify } from '../notify.js';
import { STAGE_TITLES } from '../stages.js';

const urlOf = (ctx: CiContext): string | undefined => ctx.opts.notifyUrl ?? ctx.opts.env.VEXFS_NOTIFY_URL;

export const notifyStep: Step<CiContext> = {
  name: 'notify',
  title: STAGE_TITLES.notify!,
  skip: (ctx) => (!urlOf(ctx) ? 'no --notify-url or VEXFS_NOTIFY_URL' : ctx.opts.signal.aborted ? 'interrupted' : undefined),
  async run(ctx) {
    const rec = await (ctx.deps.notify ?? defaultNotify)(urlOf(ctx)!, buildPayload(finishManifest(ctx), ctx.opts.env), {});
    ctx.manifest.notification = rec;
    if (!rec.ok) throw new Error(`POST ${rec.url} failed: ${rec.error} (does not change the pipeline result)`);
    ctx.stages.describe('notify', { detail: `POST ${rec.url}: HTTP ${rec.status}` });
  },
};
