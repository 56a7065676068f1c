// Session step: stop the guest as the session says — ACPI powerdown over QMP with a deadline,
// then SIGTERM and SIGKILL (build: a clean shutdown flushes the image); or a kill at once
// (validate: the overlay is thrown away anyway).
import type { Step } from '../../pipeline/step.js';
import type { HasSession, VmSession } from '../session.js';

/** Powers the guest off; returns whether it went down cleanly (always false for a kill). */
export async function powerOff(s: VmSession, how: VmSession['opts']['powerOff']): Promise<boolean> {
  await s.master?.stop(1000);
  if (!s.vm) return false;
  if (how === 'kill') {
    await s.vm.kill();
    return false;
  }
  return s.vm.shutdown(how.acpiTimeoutMs);
}

export const powerOffStep: Step<HasSession> = {
  name: 'power-off',
  title: 'Power off',
  async run({ session: s }, rt) {
    if (!s.vm) throw new Error('power-off: the VM is not running');
    const how = s.opts.powerOff;
    s.cleanShutdown = await powerOff(s, how);
    if (how !== 'kill' && !s.cleanShutdown) rt.warn(`the guest did not power off within ${Math.round(how.acpiTimeoutMs / 1000)} s of the ACPI request; QEMU was killed`);
  },
};
