// A guest that booted to the end (systemd reached multi-user.target, or a getty printed its login
// prompt on the serial console) but whose sshd never answers: sshd is masked, disabled or failing.
// Say so a short grace period later, instead of waiting out the whole boot deadline and then
// reporting an ambiguous SSH timeout.
import { stripVTControlCharacters } from 'node:util';
import { probeSsh, type SshTarget } from '../tools/ssh.js';
import { VmExitedError } from '../tools/qemu.js';

const BOOTED_RE = /Reached target[^\n]*multi-user\.target|^\S+ login: /m;

/** sshd starts before multi-user.target is reached; the grace covers a restart by cloud-init. */
export const NO_SSHD_GRACE_MS = 60_000;

export interface NoSshdWatch {
  /** Throws VmExitedError (kind "no sshd") once the guest has booted and sshd stayed silent past the grace. */
  check(serial: string): Promise<void>;
}

export function watchForMissingSshd(ssh: Pick<SshTarget, 'host' | 'port'>, opts: { graceMs?: number; now?: () => number; probe?: typeof probeSsh } = {}): NoSshdWatch {
  const now = opts.now ?? Date.now;
  const probe = opts.probe ?? probeSsh;
  const grace = opts.graceMs ?? NO_SSHD_GRACE_MS;
  let bootedAt: number | undefined;
  return {
    async check(serial) {
      if (bootedAt === undefined) {
        if (!BOOTED_RE.test(stripVTControlCharacters(serial.replace(/\r/g, '')))) return;
        bootedAt = now();
      }
      if (now() - bootedAt < grace) return;
      // A long probe: under load sshd takes seconds to fork the process that sends the banner.
      if ((await probe(ssh.host, ssh.port, 10_000)) === 'ssh') return;
      const tail = serial.replace(/\r/g, '').split('\n').slice(-15).join('\n');
      throw new VmExitedError(
        `the guest booted (multi-user.target reached) but nothing answers SSH on ${ssh.host}:${ssh.port} ${Math.round(grace / 1000)} s later: sshd is masked, disabled or failing in the image`,
        'enable ssh.service in the image (systemctl unmask ssh.service ssh.socket; systemctl enable ssh.service)',
        'no sshd',
        tail,
      );
    },
  };
}
