// Session step: start QEMU (the only place the tool does): the session's profile, the overlay
// plus any extra drives, the seed, SSH forwarded from 127.0.0.1 only on a port the OS picks, QMP
// for ACPI power-off, the serial console to a file. QEMU dies with the tool (pdeathsig).
import { chmod, copyFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../tools/ports.js';
import { Vm } from '../../tools/qemu.js';
import type { Step } from '../../pipeline/step.js';
import { describeProfile } from '../profile.js';
import { certificateDer, writeVarsWithMok } from '../uefi-vars.js';
import { serialLogOf, socketDir, type HasSession } from '../session.js';

export const bootStep: Step<HasSession> = {
  name: 'boot',
  title: 'Boot',
  async run({ session: s }, rt) {
    const direct = s.opts.directKernel;
    if (direct) {
      // No seed or SSH: the guest is an initramfs that reports on the serial console; its one
      // disk, if any, is the overlay (an incremental build's install VM).
      const sockDir = await socketDir(s);
      s.poweredOnAt = Date.now();
      const drives = s.overlay ? [{ file: s.overlay, format: 'qcow2' as const, ...(s.opts.discard ? { discard: true } : {}) }] : [];
      s.vm = await Vm.start(
        { name: s.opts.name, profile: s.opts.profile, drives, isolated: true, serialLog: serialLogOf(s), qmpSocket: join(sockDir, 'qmp.sock'), kernel: direct.kernel, initrd: direct.initrd, append: direct.append },
        { ...(s.opts.killOnAbort ? { signal: rt.signal } : {}), logFile: s.opts.qemuLog ?? rt.logFile },
      );
      rt.info(`QEMU pid ${s.vm.proc.pid} (${describeProfile(s.opts.profile)}), kernel ${direct.kernel}, serial ${serialLogOf(s)}`);
      return;
    }
    if (!s.overlay || !s.ssh) throw new Error('boot: the overlay and seed steps did not run');
    const port = await freePort();
    const sockDir = await socketDir(s);
    const uefi = s.opts.profile.firmware === 'uefi' ? s.opts.profile.uefi : undefined;
    let uefiVars: string | undefined;
    if (uefi) {
      // Each VM its own variable store (OVMF records boot entries in it), in its 0700 directory.
      uefiVars = join(s.opts.dir, 'OVMF_VARS.fd');
      if (uefi.mokCertificates?.length) {
        // Secure Boot with our certificates as MOKs: written offline into this VM's copy.
        const ders = await Promise.all(uefi.mokCertificates.map(async (c) => certificateDer(await readFile(c), c)));
        await writeVarsWithMok(uefi.varsTemplate, uefiVars, ders);
        rt.info(`variable store: MokList with ${uefi.mokCertificates.join(', ')}`);
      } else await copyFile(uefi.varsTemplate, uefiVars);
      await chmod(uefiVars, 0o600);
    }
    s.poweredOnAt = Date.now();
    s.vm = await Vm.start(
      {
        name: s.opts.name,
        profile: s.opts.profile,
        drives: [{ file: s.overlay, format: 'qcow2', ...(s.opts.discard ? { discard: true } : {}) }, ...s.extraDrives],
        ...(s.seedIso ? { seedIso: s.seedIso } : {}),
        sshPort: port,
        isolated: s.opts.network === 'isolated',
        serialLog: serialLogOf(s),
        qmpSocket: join(sockDir, 'qmp.sock'),
        ...(s.virtfs.length ? { virtfs: s.virtfs } : {}),
        ...(uefiVars ? { uefiVars } : {}),
        ...(s.opts.snapshotable ? { vmgenid: true } : {}),
        ...(s.restoreFrom ? { incoming: s.restoreFrom.state } : {}),
      },
      // Without the signal an interrupt does not SIGTERM QEMU: the caller powers it off (run).
      { ...(s.opts.killOnAbort ? { signal: rt.signal } : {}), logFile: s.opts.qemuLog ?? rt.logFile },
    );
    s.ssh = { ...s.ssh, port };
    if (s.restoreFrom) {
      await s.vm.resumeIncoming(Math.min(120_000, s.opts.bootTimeoutMs));
      rt.info(`resumed from ${s.restoreFrom.state} in ${((Date.now() - s.poweredOnAt) / 1000).toFixed(1)} s`);
    }
    rt.info(`QEMU pid ${s.vm.proc.pid} (${describeProfile(s.opts.profile)}), SSH forwarded from 127.0.0.1:${port}, serial ${serialLogOf(s)}`);
  },
  async cleanup({ session: s }) {
    await s.vm?.kill();
    if (s.sockDir && s.sockDir !== s.opts.dir) await rm(s.sockDir, { recursive: true, force: true });
  },
};
