// Run step: stay in the foreground until the guest powers off (a normal end) or we are
// interrupted (then power it off over ACPI, QEMU killed after --shutdown-timeout).
import { AbortedError, GuestError } from '../../errors.js';
import type { Step } from '../../pipeline/step.js';
import { powerOff } from '../../vm/steps/power-off.js';
import { RUN_DEFAULTS, type RunContext } from '../context.js';
import { writeState } from '../state.js';

/** Resolves when the signal is aborted. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export const foregroundStep: Step<RunContext> = {
  name: 'foreground',
  title: 'Running',
  async run(ctx, rt) {
    const vm = ctx.session.vm!;
    const exited = vm.proc.exited.then((r) => ({ how: 'exited' as const, ...r }));
    const end = await Promise.race([exited, aborted(rt.signal).then(() => ({ how: 'aborted' as const }))]);
    if (end.how === 'exited') {
      if (end.exitCode === 0) {
        rt.info(`${ctx.o.name}: the guest powered off`);
        ctx.outcome = { state: ctx.state, poweredOff: true, sshReadyMs: ctx.session.sshReadyMs ?? 0 };
        return;
      }
      throw new GuestError(`QEMU exited unexpectedly (${end.signal ? `killed by ${end.signal}` : `exit code ${end.exitCode}`})`);
    }
    ctx.state.status = 'stopping';
    await writeState(ctx.dir, ctx.state).catch(() => undefined);
    const timeoutS = ctx.o.shutdownTimeoutS ?? RUN_DEFAULTS.shutdownTimeoutS;
    rt.info(`${ctx.o.name}: powering off (ACPI, up to ${timeoutS} s)`);
    const clean = await powerOff(ctx.session, { acpiTimeoutMs: timeoutS * 1000 });
    if (!clean) rt.warn(`${ctx.o.name}: the guest did not power off within ${timeoutS} s: killed QEMU`);
    else rt.info(`${ctx.o.name}: powered off`);
    throw new AbortedError();
  },
};
