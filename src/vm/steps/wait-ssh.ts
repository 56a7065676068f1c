// Session step: wait until the guest's sshd lets the ephemeral key in. A guest that panicked,
// fell into an emergency shell or whose QEMU died is reported as that (assertAlive), never as a
// timeout. With `master`, the first login is the ControlMaster every later command goes through.
import { join } from 'node:path';
import { TimeoutError } from '../../errors.js';
import { controlPath, masterAttempt } from '../../tools/ssh-master.js';
import { waitForSsh } from '../../tools/ssh.js';
import type { Step } from '../../pipeline/step.js';
import { assertAlive, timeLeftMs, type HasSession } from '../session.js';
import { watchForMissingSshd } from '../no-sshd.js';

export const waitSshStep: Step<HasSession> = {
  name: 'wait-ssh',
  title: 'Wait for SSH',
  async run({ session: s }, rt) {
    const ssh = s.ssh;
    if (!ssh || !s.vm) throw new Error('wait-ssh: the VM is not running');
    const sockDir = s.sockDir ?? s.opts.dir;
    const noSshd = watchForMissingSshd(ssh);
    const vm = s.vm;
    try {
      await waitForSsh(ssh, {
        timeoutMs: Math.max(1000, timeLeftMs(s, 'waiting for SSH')),
        intervalMs: 1000,
        signal: rt.signal,
        check: async () => {
          await assertAlive(s);
          await noSshd.check(await vm.serial());
        },
        ...(s.opts.master
          ? { attempt: masterAttempt(ssh, sockDir, (m) => (s.master = m), { logFile: join(s.opts.dir, 'ssh-master.log'), signal: rt.signal }) }
          : {}),
      });
    } catch (e) {
      if (e instanceof TimeoutError) {
        throw new TimeoutError(`${e.message}; the guest did not crash, it just did not answer`, { cause: e, hint: s.opts.timeoutHint });
      }
      throw e;
    }
    s.sshReadyMs = Date.now() - s.poweredOnAt!;
    if (s.master) s.ssh = { ...ssh, controlPath: controlPath(sockDir) };
    rt.info(`SSH ready ${(s.sshReadyMs / 1000).toFixed(1)} s after power-on`);
  },
  async cleanup({ session: s }) {
    await s.master?.stop(1000);
  },
};
