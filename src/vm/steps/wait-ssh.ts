// Session step: wait until the guest's sshd lets the ephemeral key in. A guest that panicked,
// fell into an emergency shell or whose QEMU died is reported as that (assertAlive), never as a
// timeout. With `master`, the first login is the ControlMaster every later command goes through.
import { join } from 'node:path';
import { TimeoutError } from '../../errors.js';
import { controlPath, masterAttempt } from '../../tools/ssh-master.js';
import { sshExec, waitForSsh } from '../../tools/ssh.js';
import { randomBytes } from 'node:crypto';
import type { Step } from '../../pipeline/step.js';
import { assertAlive, timeLeftMs, type HasSession } from '../session.js';
import { watchForMissingSshd } from '../no-sshd.js';

const RESTORED_SSH_TIMEOUT_MS = 120_000;

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
        // A resumed VM answers within seconds or not at all (its caller then boots cold).
        timeoutMs: Math.max(1000, Math.min(s.restoreFrom ? RESTORED_SSH_TIMEOUT_MS : Infinity, timeLeftMs(s, 'waiting for SSH'))),
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
    if (s.restoreFrom) {
      // A restored guest's clock is the snapshot's: set it to now, first thing (file times, TLS,
      // apt). Its timers are stopped first (this boot only): a calendar timer whose time passed
      // while the snapshot sat in the cache (dpkg-db-backup at midnight) would otherwise fire
      // now, and write into the image what a cold boot's build would not. Fresh host entropy
      // too, on top of the vmgenid reseed (tools/qemu.ts).
      const now = (Date.now() / 1000).toFixed(3);
      await sshExec(s.ssh!, `sudo -n systemctl stop '*.timer' && sudo -n date -u -s @${now} >/dev/null && sudo -n dd of=/dev/urandom bs=64 count=1 status=none`, { input: randomBytes(64), signal: rt.signal, logFile: rt.logFile, timeoutMs: 60_000 });
      rt.info('clock set and entropy added after the restore');
    }
  },
  async cleanup({ session: s }) {
    await s.master?.stop(1000);
  },
};
