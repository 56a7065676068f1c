// Validate step: the image's work directory (made by validateImage) — on the way out the logs
// are copied to the report directory and the directory is removed unless --no-cleanup.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Step } from '../../pipeline/step.js';
import type { ValidateContext } from '../context.js';

export const workspaceStep: Step<ValidateContext> = {
  name: 'workspace',
  title: 'Work directory',
  async run(ctx) {
    await mkdir(ctx.logDir, { recursive: true });
  },
  async cleanup(ctx, rt) {
    if (ctx.opts.logsOutDir) {
      await mkdir(ctx.opts.logsOutDir, { recursive: true });
      for (const f of ['serial.log', 'qemu.log', 'checks.log']) {
        await copyFile(join(ctx.dir, f), join(ctx.opts.logsOutDir, f)).catch(() => undefined);
      }
    }
    if (ctx.opts.noCleanup) rt.info(`kept ${ctx.dir}`);
    else await rm(ctx.dir, { recursive: true, force: true });
  },
};
