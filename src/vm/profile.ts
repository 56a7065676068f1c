// The VM profile: the machine every VM of one run gets (machine type, firmware, CPU model, disk
// bus, memory, vCPUs, accelerator), as one typed value resolved in one place. Build, validate,
// run and ci never choose the accelerator themselves: they ask for a profile.
import { assertReady, doctor, type DoctorReport } from '../doctor.js';
import { PreconditionError, UsageError } from '../errors.js';
import { TCG_CPU, type Accel, type VmProfile } from '../tools/qemu.js';

export type { VmProfile };

export interface ProfileRequest {
  memoryMb: number;
  cpus: number;
  /** Where the accelerator probe's result is cached. */
  cacheDir: string;
  /** Host tools the caller needs besides QEMU (checked with the same report). */
  tools?: readonly string[];
  signal?: AbortSignal;
  /** Injected by unit tests of the CI orchestrator. */
  doctor?: typeof doctor;
}

/** What a VM that boots a finished image gets unless told otherwise (validate, run, ci's validations). */
export const VM_DEFAULTS = Object.freeze({ memoryMb: 2048, cpus: 2, bootTimeoutS: 300, sshTimeoutS: 60 });

/** Limits checked before anything is probed or started (a typo must not reach QEMU). */
export const PROFILE_LIMITS = Object.freeze({ minMemoryMb: 256, maxMemoryMb: 262_144, maxCpus: 64 });

export function assertProfileRequest(r: Pick<ProfileRequest, 'memoryMb' | 'cpus'>): void {
  if (!Number.isInteger(r.memoryMb) || r.memoryMb < PROFILE_LIMITS.minMemoryMb || r.memoryMb > PROFILE_LIMITS.maxMemoryMb) {
    throw new UsageError(`memory ${r.memoryMb} MiB is out of range: give ${PROFILE_LIMITS.minMemoryMb} to ${PROFILE_LIMITS.maxMemoryMb} MiB`);
  }
  if (!Number.isInteger(r.cpus) || r.cpus < 1 || r.cpus > PROFILE_LIMITS.maxCpus) {
    throw new UsageError(`${r.cpus} vCPUs is out of range: give 1 to ${PROFILE_LIMITS.maxCpus}`);
  }
}

/** The profile for an accelerator that is already known (tests, ci shards that probed once). */
export function profileFor(accel: Accel, memoryMb: number, cpus: number, env: NodeJS.ProcessEnv = process.env): VmProfile {
  return {
    machine: 'q35',
    firmware: 'bios',
    cpuModel: accel === 'tcg' ? env.VEXFS_IMAGE_TCG_CPU || TCG_CPU : 'host',
    diskBus: 'virtio-blk',
    memoryMb,
    cpus,
    accel,
  };
}

export interface ResolvedProfile {
  profile: VmProfile;
  /** The doctor report it was judged from (tool versions for manifests, KVM's reason). */
  report: DoctorReport;
}

/**
 * The one place the accelerator is chosen: host tools checked, the (cached) probe asked which
 * accelerator really works, KVM only when it is usable by speed as well (tools/accel.ts).
 */
export async function resolveVmProfile(r: ProfileRequest): Promise<ResolvedProfile> {
  assertProfileRequest(r);
  const report = await (r.doctor ?? doctor)({ cacheDir: r.cacheDir, signal: r.signal });
  assertReady(report, ['qemu-system-x86_64', 'qemu-img', ...(r.tools ?? [])]);
  // KVM only when the probe found it usable by speed too (tools/accel.ts).
  const accel = report.accelerator?.chosen;
  if (!accel) throw new PreconditionError('no accelerator was probed', { hint: 'run `vexfs-image doctor --refresh`' });
  return { profile: profileFor(accel, r.memoryMb, r.cpus), report };
}

/** One line for logs: "tcg, q35/bios, virtio-blk, 2 vCPUs, 2048 MiB". */
export function describeProfile(p: VmProfile): string {
  return `${p.accel}, ${p.machine}/${p.firmware}, ${p.diskBus}, ${p.cpus} vCPUs, ${p.memoryMb} MiB`;
}
