// The accelerator the VMs of one validate, run or ci job use: doctor() checks the host tools the
// job needs and finds which accelerator really works. The one place outside the builder's own
// environment step where it is chosen, so that the VM profile (issue 13, item 1) replaces this
// function's body and nothing else.
import { assertReady, doctor, type DoctorReport } from './doctor.js';
import { PreconditionError } from './errors.js';
import type { Accel } from './tools/qemu.js';

export interface HostAccelerator {
  accel: Accel;
  report: DoctorReport;
}

export interface ResolveAcceleratorOptions {
  cacheDir: string;
  /** Host tools the job needs (a missing one is a PreconditionError naming its package). */
  tools: readonly string[];
  signal?: AbortSignal;
  /** Injected by unit tests of the CI orchestrator. */
  doctor?: typeof doctor;
}

export async function resolveAccelerator(opts: ResolveAcceleratorOptions): Promise<HostAccelerator> {
  const report = await (opts.doctor ?? doctor)({ cacheDir: opts.cacheDir, signal: opts.signal });
  assertReady(report, opts.tools);
  const accel = report.accelerator?.chosen;
  if (!accel) throw new PreconditionError('the accelerator was not probed', { hint: 'check the QEMU installation with `vexfs-image doctor --refresh`' });
  return { accel, report };
}
