// Stage 5a: golden-image cleanup (guest/build/golden-cleanup.sh) and ACPI shutdown over QMP.
import type { Step } from '../pipeline/step.js';
import { BUILD_USER, type BuildContext } from './context.js';
import { runGuestScript } from './guest-run.js';

export const goldenCleanupStep: Step<BuildContext> = {
  name: 'golden-cleanup',
  title: 'Golden-image cleanup',
  async run(ctx, rt) {
    if (!ctx.ssh) throw new Error('golden-cleanup: no SSH target');
    await runGuestScript(ctx.ssh, 'golden-cleanup.sh', [BUILD_USER], rt, { timeoutMs: 300_000, what: 'golden-image cleanup' });
  },
};

export const shutdownStep: Step<BuildContext> = {
  name: 'shutdown',
  title: 'Shut down (ACPI)',
  async run(ctx, rt) {
    if (!ctx.vm) throw new Error('shutdown: the VM is not running');
    ctx.guest.cleanShutdown = await ctx.vm.shutdown(120_000);
    if (!ctx.guest.cleanShutdown) rt.warn('the guest did not power off within 120 s of the ACPI request; QEMU was killed');
  },
};
