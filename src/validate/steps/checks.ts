// Validate step: the image's checks (built-in + the user's, for its variant), compiled and run
// in batches over the session's SSH master connection.
import { join } from 'node:path';
import type { Step } from '../../pipeline/step.js';
import { stripControl } from '../../report/model.js';
import { VmExitedError } from '../../tools/qemu.js';
import { assertAlive } from '../../vm/session.js';
import { checksForVariant } from '../checks.js';
import { compileCheck, type CheckVars } from '../compile.js';
import { ImageFailure, type ValidateContext } from '../context.js';
import { runChecks } from '../engine.js';
import { sshBatchExecutor } from '../guest-exec.js';
import { secureBootChecks } from '../secure-boot.js';

export const checksStep: Step<ValidateContext> = {
  name: 'checks',
  title: 'Checks',
  async run(ctx, rt) {
    const s = ctx.session;
    if (!s.ssh) throw new Error('checks: no SSH target');
    const exec = sshBatchExecutor(s.ssh, s.sockDir ?? ctx.dir, join(ctx.dir, 'checks.log'));
    const vars: CheckVars = { version: ctx.target.version, variant: ctx.target.variant, name: ctx.target.name, arch: ctx.target.arch };
    // Read with the cloud-init wait; without it kernel-log checks judge the log alone.
    if (s.taintAtReady !== undefined) vars.taint_baseline = s.taintAtReady;
    else rt.warn('could not read the kernel taint baseline (/proc/sys/kernel/tainted) with the cloud-init wait');
    const defs = checksForVariant(ctx.opts.checks, ctx.target.variant);
    // Under a secureboot profile: Secure Boot, lockdown and the modules' signatures, last.
    if (ctx.opts.profile.secureBoot) defs.push(...secureBootChecks(defs));
    const compiled = defs.map((c) => compileCheck(c, vars));
    const t0 = Date.now();
    const { results, fatal, batches } = await runChecks(compiled, exec, {
      defaultTimeoutMs: ctx.opts.sshTimeoutS * 1000,
      signal: rt.signal,
      health: () => assertAlive(s),
      onResult: (r, i, n) => {
        rt.info(`[${i + 1}/${n}] ${r.status === 'passed' ? 'ok  ' : r.status.toUpperCase()} ${r.id}${r.status === 'passed' ? '' : `: ${r.message}`}`);
        ctx.opts.onCheck?.(ctx.target, r);
      },
    });
    ctx.checksMs = Date.now() - t0;
    rt.info(`${results.length} checks in ${batches} round trips, ${(ctx.checksMs / 1000).toFixed(1)} s`);
    ctx.checks = results;
    if (fatal === undefined) return;
    if (fatal instanceof VmExitedError || fatal instanceof ImageFailure) throw fatal;
    throw new ImageFailure('ssh failed', String(fatal), s.vm ? stripControl(await s.vm.serialTail(30)) : undefined);
  },
};
