// Stage 5a: golden-image cleanup (guest/build/golden-cleanup.sh); the session's power-off step
// then shuts the guest down over ACPI.
import type { Step } from '../pipeline/step.js';
import { BUILD_USER, GUEST_SOURCE_MOUNT, type BuildContext } from './context.js';
import { runGuestScript } from './guest-run.js';

export const goldenCleanupStep: Step<BuildContext> = {
  name: 'golden-cleanup',
  title: 'Golden-image cleanup',
  async run(ctx, rt) {
    if (!ctx.session.ssh) throw new Error('golden-cleanup: no SSH target');
    await runGuestScript(ctx.session.ssh, 'golden-cleanup.sh', [BUILD_USER, GUEST_SOURCE_MOUNT], rt, { timeoutMs: 300_000, what: 'golden-image cleanup' });
  },
};
