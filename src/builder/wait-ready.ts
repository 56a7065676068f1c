// Stage 4b: wait for SSH, then for cloud-init to finish (packages installed, files written).
import { GuestError } from '../errors.js';
import { sleep, sshExec, waitForSsh } from '../tools/ssh.js';
import type { Step } from '../pipeline/step.js';
import { remainingMs } from './guest-run.js';
import type { BuildContext } from './context.js';

export const waitReadyStep: Step<BuildContext> = {
  name: 'wait-ready',
  title: 'Wait for SSH and cloud-init',
  async run(ctx, rt) {
    const { vm, ssh } = ctx;
    if (!vm || !ssh) throw new Error('wait-ready: the VM is not running');
    ctx.sshReadyMs = await waitForSsh(ssh, {
      timeoutMs: remainingMs(ctx.deadline, 'waiting for SSH', ctx.plan.timeoutS),
      signal: rt.signal,
      check: () => vm.assertHealthy(),
    });
    rt.info(`SSH ready after ${Math.round(ctx.sshReadyMs / 1000)} s; waiting for cloud-init (packages)`);
    const t0 = Date.now();
    let r;
    // cloud-init restarts sshd while applying ssh settings: a dropped connection (ssh's exit
    // 255) is not an answer, so ask again until the deadline.
    for (;;) {
      r = await sshExec(ssh, 'cloud-init status --wait --long', {
        allowFailure: true,
        timeoutMs: remainingMs(ctx.deadline, 'waiting for cloud-init', ctx.plan.timeoutS),
        signal: rt.signal,
        logFile: rt.logFile,
      });
      if (r.exitCode !== 255) break;
      await vm.assertHealthy();
      await sleep(2000, rt.signal);
    }
    ctx.cloudInitMs = Date.now() - t0;
    // Exit 0: done; 2: done with recoverable warnings (e.g. deprecated keys); 1: error.
    if (r.exitCode !== 0 && r.exitCode !== 2) {
      const out = await sshExec(ssh, 'sudo -n tail -n 40 /var/log/cloud-init-output.log', { allowFailure: true, timeoutMs: 30_000 });
      throw new GuestError(`cloud-init failed in the build VM:\n${r.stdout.trim()}\n--- last lines of /var/log/cloud-init-output.log ---\n${out.stdout.trim()}`, {
        hint: 'a package in the variant may not exist for this base; see the log',
      });
    }
    if (r.exitCode === 2) rt.warn(`cloud-init finished with warnings:\n${r.stdout.trim()}`);
  },
};
