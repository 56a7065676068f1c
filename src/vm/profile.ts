// The VM profile: the machine every VM of one run gets (machine type, firmware, CPU model, disk
// bus, memory, vCPUs, accelerator), as one typed value resolved in one place. Build, validate,
// run and ci never choose the accelerator themselves: they ask for a profile.
import { existsSync } from 'node:fs';
import { assertReady, doctor, type DoctorReport } from '../doctor.js';
import { PreconditionError, UsageError } from '../errors.js';
import { DISK_BUSES, FIRMWARES, SECURE_BOOT_MODES, type Accel, type DiskBus, type Firmware, type SecureBootMode, type UefiFirmware, type VmProfile } from '../tools/qemu.js';
import { archSpec, DEFAULT_ARCH, type Arch } from '../arch.js';
import { assertArchHost } from '../tools/arch-host.js';

export type { VmProfile };

/** The hardware a profile choice picks (the rest is the accelerator's business). */
export interface Hardware {
  /** The guest architecture (default amd64): machine, QEMU binary, CPU model and firmware follow from it. */
  arch?: Arch;
  firmware: Firmware;
  diskBus: DiskBus;
  /** Host OVMF files: required when firmware is uefi (findOvmf). */
  uefi?: UefiFirmware;
  /** UEFI Secure Boot (uefi holds the secboot firmware then). */
  secureBoot?: SecureBootMode;
}

export const DEFAULT_HARDWARE: Readonly<Hardware> = Object.freeze({ firmware: 'bios', diskBus: 'virtio-blk' });

/** What a request may choose: firmware and bus (defaults per architecture) and the architecture. */
export type HardwareChoice = Partial<Pick<Hardware, 'firmware' | 'diskBus' | 'arch' | 'secureBoot'>>;

export interface ProfileRequest {
  memoryMb: number;
  cpus: number;
  /** Where the accelerator probe's result is cached. */
  cacheDir: string;
  /** Firmware, boot disk bus, Secure Boot and architecture (default amd64, bios, virtio-blk). */
  hardware?: HardwareChoice;
  env?: NodeJS.ProcessEnv;
  /** Host tools the caller needs besides QEMU (checked with the same report). */
  tools?: readonly string[];
  signal?: AbortSignal;
  /** Injected by unit tests of the CI orchestrator. */
  doctor?: typeof doctor;
  /**
   * Look up only the tools this job needs, not every host tool's version (which builds record in
   * their manifest and provenance): the quick test, where ~0.5-1 s of version probes is a tenth
   * of the edit-to-result loop.
   */
  neededToolsOnly?: boolean;
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

/** VEXFS_IMAGE_TCG_CPU (amd64) or VEXFS_IMAGE_TCG_CPU_ARM64: another -cpu under TCG. */
export const tcgCpuEnv = (arch: Arch): string => (arch === 'amd64' ? 'VEXFS_IMAGE_TCG_CPU' : `VEXFS_IMAGE_TCG_CPU_${arch.toUpperCase()}`);

/**
 * The profile for an accelerator that is already known (tests, ci shards that probed once). An
 * architecture this host's KVM cannot run (arm64 on x86_64) is always TCG, whatever was probed.
 */
export function profileFor(accel: Accel, memoryMb: number, cpus: number, env: NodeJS.ProcessEnv = process.env, hw: Hardware = DEFAULT_HARDWARE): VmProfile {
  if (hw.firmware === 'uefi' && !hw.uefi) throw new Error('profileFor: a uefi profile needs the OVMF files (findOvmf)');
  const arch = hw.arch ?? DEFAULT_ARCH;
  const a = archSpec(arch);
  const acc: Accel = a.kvmCapable ? accel : 'tcg';
  return {
    arch,
    machine: a.machine,
    firmware: hw.firmware,
    ...(hw.firmware === 'uefi' ? { uefi: hw.uefi } : {}),
    ...(hw.firmware === 'uefi' && hw.secureBoot ? { secureBoot: hw.secureBoot } : {}),
    cpuModel: acc === 'tcg' ? env[tcgCpuEnv(arch)] || a.tcgCpu : 'host',
    diskBus: hw.diskBus,
    memoryMb,
    cpus,
    accel: acc,
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
  const hw = resolveHardware(r.hardware ?? {}, r.env);
  const a = archSpec(hw.arch ?? DEFAULT_ARCH);
  // The job's tools, with the architecture's QEMU instead of the x86 one.
  const tools = [a.qemuBinary, 'qemu-img', ...(r.tools ?? []).filter((t) => !t.startsWith('qemu-system-'))];
  // An architecture KVM cannot run here is TCG without asking: no x86 probe for it.
  const report = await (r.doctor ?? doctor)({ cacheDir: r.cacheDir, signal: r.signal, ...(a.kvmCapable ? {} : { probe: false }), ...(r.neededToolsOnly ? { only: tools } : {}) });
  assertReady(report, tools);
  // KVM only when the probe found it usable by speed too (tools/accel.ts).
  const accel = a.kvmCapable ? report.accelerator?.chosen : 'tcg';
  if (!accel) throw new PreconditionError('no accelerator was probed', { hint: 'run `vexfs-image doctor --refresh`' });
  return { profile: profileFor(accel, r.memoryMb, r.cpus, r.env, hw), report };
}

/**
 * Debian's ovmf package (bookworm and trixie): the 4 MiB flash layout first (the one Debian
 * maintains; the 2 MiB files are kept for old VMs). VEXFS_IMAGE_OVMF_CODE and
 * VEXFS_IMAGE_OVMF_VARS name other files (another distribution's edk2 package).
 */
export const OVMF_CANDIDATES: ReadonlyArray<UefiFirmware> = archSpec('amd64').uefiCandidates;

/** The host's OVMF files, or bad input (exit 2, before anything starts) naming the Debian package. */
export function findOvmf(env: NodeJS.ProcessEnv = process.env): UefiFirmware {
  const override = env.VEXFS_IMAGE_OVMF_CODE || env.VEXFS_IMAGE_OVMF_VARS;
  const candidates = override ? [{ code: env.VEXFS_IMAGE_OVMF_CODE ?? '', varsTemplate: env.VEXFS_IMAGE_OVMF_VARS ?? '' }] : OVMF_CANDIDATES;
  const found = candidates.find((c) => existsSync(c.code) && existsSync(c.varsTemplate));
  if (found) return found;
  const looked = candidates.map((c) => `${c.code || '(VEXFS_IMAGE_OVMF_CODE unset)'} + ${c.varsTemplate || '(VEXFS_IMAGE_OVMF_VARS unset)'}`).join(', ');
  throw new UsageError(`a uefi profile needs UEFI firmware (OVMF), which is not installed: none of ${looked} exists (Debian package ovmf)`, {
    hint: 'install the Debian package ovmf (apt-get install ovmf), or set VEXFS_IMAGE_OVMF_CODE and VEXFS_IMAGE_OVMF_VARS',
  });
}

/**
 * Debian's ovmf package: the Secure Boot build (SMM, secure flash) and a variable store with
 * Microsoft's KEK and UEFI CA in db (which signed Debian's shim) and Secure Boot on.
 * VEXFS_IMAGE_OVMF_SECBOOT_CODE and VEXFS_IMAGE_OVMF_SECBOOT_VARS name other files.
 */
export const OVMF_SECBOOT_CANDIDATES: ReadonlyArray<UefiFirmware> = Object.freeze([
  { code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', secureBoot: true },
]);

/** The host's Secure Boot OVMF files, or bad input (exit 2, before anything starts). */
export function findOvmfSecureBoot(env: NodeJS.ProcessEnv = process.env): UefiFirmware {
  const override = env.VEXFS_IMAGE_OVMF_SECBOOT_CODE || env.VEXFS_IMAGE_OVMF_SECBOOT_VARS;
  const candidates = override ? [{ code: env.VEXFS_IMAGE_OVMF_SECBOOT_CODE ?? '', varsTemplate: env.VEXFS_IMAGE_OVMF_SECBOOT_VARS ?? '', secureBoot: true }] : OVMF_SECBOOT_CANDIDATES;
  const found = candidates.find((c) => existsSync(c.code) && existsSync(c.varsTemplate));
  if (found) return found;
  const looked = candidates.map((c) => `${c.code || '(VEXFS_IMAGE_OVMF_SECBOOT_CODE unset)'} + ${c.varsTemplate || '(VEXFS_IMAGE_OVMF_SECBOOT_VARS unset)'}`).join(', ');
  throw new UsageError(`a secureboot profile needs OVMF's Secure Boot firmware and Microsoft-key variable store, which are not installed: none of ${looked} exists (Debian package ovmf)`, {
    hint: 'install the Debian package ovmf (apt-get install ovmf), or set VEXFS_IMAGE_OVMF_SECBOOT_CODE and VEXFS_IMAGE_OVMF_SECBOOT_VARS',
  });
}

/**
 * Hardware from a partial choice: defaults filled in (an architecture without BIOS boots UEFI),
 * what its machine cannot do refused, its emulator and firmware found on the host (bad input,
 * exit 2, naming the Debian packages: before anything starts).
 */
export function resolveHardware(h: HardwareChoice, env: NodeJS.ProcessEnv = process.env): Hardware {
  const arch = h.arch ?? DEFAULT_ARCH;
  const a = archSpec(arch);
  const firmware = h.firmware ?? a.firmwares[0] ?? DEFAULT_HARDWARE.firmware;
  const diskBus = h.diskBus ?? DEFAULT_HARDWARE.diskBus;
  if (!a.firmwares.includes(firmware)) throw new UsageError(`${arch} guests boot with ${a.firmwares.join(' or ')} only (QEMU's ${a.machine} machine has no ${firmware})`);
  if (!a.diskBuses.includes(diskBus)) throw new UsageError(`${arch} guests cannot use the ${diskBus} disk bus (QEMU's ${a.machine} machine has no controller for it): give one of ${a.diskBuses.join(', ')}`);
  if (h.secureBoot) {
    if (firmware !== 'uefi') throw new UsageError(`Secure Boot needs UEFI firmware, not ${firmware}`);
    if (!a.secureBootPackages.length) throw new UsageError(`Secure Boot is not set up for ${arch} images (amd64 only)`);
    return { firmware, diskBus, uefi: findOvmfSecureBoot(env), secureBoot: h.secureBoot };
  }
  if (arch === DEFAULT_ARCH) return firmware === 'uefi' ? { firmware, diskBus, uefi: findOvmf(env) } : { firmware, diskBus };
  const host = assertArchHost(arch, ['vm'], env);
  return { arch, firmware, diskBus, uefi: host.firmware! };
}

/**
 * The least memory the images this tool builds boot and validate in (the spec's minimum:
 * Debian's cloud kernel, systemd, cloud-init and the VexFS module). Below it the guest does not
 * fail fast: it swaps or OOM-kills its way to a boot timeout, so it is refused up front.
 */
export const IMAGE_MIN_MEMORY_MB = 512;

/** One entry of a validation matrix: `--profile uefi,nvme,512M` (memory and vCPUs optional). */
export interface ProfileChoice {
  firmware: Firmware;
  diskBus: DiskBus;
  /** `secureboot` (implies uefi): the image's module certificate enrolled; `secureboot=nomok`: not. */
  secureBoot?: SecureBootMode;
  memoryMb?: number;
  cpus?: number;
}

/** A choice with memory and vCPUs filled in (Secure Boot stays optional). */
export type CompleteChoice = Required<Omit<ProfileChoice, 'secureBoot'>> & Pick<ProfileChoice, 'secureBoot'>;

const MEMORY_RE = /^(\d+)\s*(m|mb|mib|g|gb|gib)?$/i;
const CPUS_RE = /^(\d+)\s*(cpus?|vcpus?)$/i;

function parseMemory(v: string, what: string): number {
  const m = MEMORY_RE.exec(v);
  if (!m) throw new UsageError(`${what}: memory ${JSON.stringify(v)} is not a size like 512M or 2G`);
  const n = Number(m[1]) * (/^g/i.test(m[2] ?? '') ? 1024 : 1);
  return n;
}

function parseCpus(v: string, what: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > PROFILE_LIMITS.maxCpus) throw new UsageError(`${what}: vCPUs ${JSON.stringify(v)} is not a whole number from 1 to ${PROFILE_LIMITS.maxCpus}`);
  return n;
}

/**
 * Parses one profile: comma-separated words in any order — a firmware (bios, uefi), a disk bus
 * (virtio-blk, virtio-scsi, nvme, sata), a memory size (512M, 2G) and a vCPU count (2cpu) — or
 * the same as key=value (firmware=uefi,bus=nvme,memory=512,cpus=2). What is not given is the
 * default (bios, virtio-blk, the command's memory and vCPUs).
 */
export function parseProfile(text: string, what = '--profile'): ProfileChoice {
  const out: Partial<ProfileChoice> = {};
  const set = <K extends keyof ProfileChoice>(k: K, v: ProfileChoice[K], word: string): void => {
    if (out[k] !== undefined) throw new UsageError(`${what} ${JSON.stringify(text)}: ${k === 'diskBus' ? 'disk bus' : k === 'memoryMb' ? 'memory' : k === 'cpus' ? 'vCPUs' : k} given twice (${word})`);
    out[k] = v;
  };
  const words = text.split(',').map((w) => w.trim()).filter(Boolean);
  if (!words.length) throw new UsageError(`${what}: empty profile`);
  for (const word of words) {
    const eq = word.indexOf('=');
    const key = eq >= 0 ? word.slice(0, eq).trim().toLowerCase() : undefined;
    const value = (eq >= 0 ? word.slice(eq + 1) : word).trim();
    const lower = value.toLowerCase();
    if (key === 'firmware' || (key === undefined && (FIRMWARES as readonly string[]).includes(lower))) {
      if (!(FIRMWARES as readonly string[]).includes(lower)) throw new UsageError(`${what}: unknown firmware ${JSON.stringify(value)}: give ${FIRMWARES.join(' or ')}`);
      set('firmware', lower as Firmware, word);
    } else if (key === 'bus' || key === 'disk-bus' || (key === undefined && (DISK_BUSES as readonly string[]).includes(lower))) {
      if (!(DISK_BUSES as readonly string[]).includes(lower)) throw new UsageError(`${what}: unknown disk bus ${JSON.stringify(value)}: give one of ${DISK_BUSES.join(', ')}`);
      set('diskBus', lower as DiskBus, word);
    } else if (key === 'memory' || key === 'mem' || (key === undefined && MEMORY_RE.test(value) && /[a-z]$/i.test(value))) {
      set('memoryMb', parseMemory(value, what), word);
    } else if (key === 'secureboot' || (key === undefined && lower === 'secureboot')) {
      const mode = key === undefined ? 'mok' : lower;
      if (!(SECURE_BOOT_MODES as readonly string[]).includes(mode)) throw new UsageError(`${what}: unknown secureboot mode ${JSON.stringify(value)}: give ${SECURE_BOOT_MODES.join(' or ')} (mok enrols the image's module certificate)`);
      set('secureBoot', mode as SecureBootMode, word);
    } else if (key === 'cpus' || key === 'vcpus') {
      set('cpus', parseCpus(value, what), word);
    } else if (key === undefined && CPUS_RE.test(value)) {
      set('cpus', parseCpus(CPUS_RE.exec(value)![1]!, what), word);
    } else {
      throw new UsageError(
        `${what}: unknown profile value ${JSON.stringify(word)}: give a firmware (${FIRMWARES.join(', ')}, or secureboot), a disk bus (${DISK_BUSES.join(', ')}), a memory size (512M, 2G) or vCPUs (2cpu), or key=value (firmware, bus, memory, cpus)`,
      );
    }
  }
  if (out.secureBoot && out.firmware === 'bios') throw new UsageError(`${what} ${JSON.stringify(text)}: secureboot needs uefi firmware, not bios`);
  const firmware = out.secureBoot ? 'uefi' : (out.firmware ?? DEFAULT_HARDWARE.firmware);
  return { firmware, diskBus: out.diskBus ?? DEFAULT_HARDWARE.diskBus, ...(out.secureBoot ? { secureBoot: out.secureBoot } : {}), ...(out.memoryMb !== undefined ? { memoryMb: out.memoryMb } : {}), ...(out.cpus !== undefined ? { cpus: out.cpus } : {}) };
}

/** A profile choice with memory and vCPUs filled in, judged before any VM starts (exit 2). */
export function completeChoice(c: ProfileChoice, defaults: { memoryMb: number; cpus: number }, what = '--profile'): CompleteChoice {
  const full = { ...c, memoryMb: c.memoryMb ?? defaults.memoryMb, cpus: c.cpus ?? defaults.cpus };
  if (full.memoryMb < IMAGE_MIN_MEMORY_MB) {
    throw new UsageError(`${what} ${profileLabel(full)}: ${full.memoryMb} MiB of memory is below the ${IMAGE_MIN_MEMORY_MB} MiB the images need (the guest would not fail, only time out): give at least ${IMAGE_MIN_MEMORY_MB}M`);
  }
  assertProfileRequest(full);
  return full;
}

/** A profile's name in reports (JUnit classname, file names): "uefi-nvme-512m-2cpu", "uefi-sb-virtio-blk-2048m-2cpu". */
export function profileLabel(p: Pick<VmProfile, 'firmware' | 'diskBus' | 'memoryMb' | 'cpus' | 'secureBoot'>): string {
  const sb = p.secureBoot ? `-sb${p.secureBoot === 'nomok' ? '-nomok' : ''}` : '';
  return `${p.firmware}${sb}-${p.diskBus}-${p.memoryMb}m-${p.cpus}cpu`;
}

/** Parses and completes every --profile (repeatable); duplicates are refused. */
export function parseProfiles(texts: readonly string[], defaults: { memoryMb: number; cpus: number }, what = '--profile'): Array<CompleteChoice> {
  const out = texts.map((t) => completeChoice(parseProfile(t, what), defaults, what));
  const seen = new Set<string>();
  for (const c of out) {
    const l = profileLabel(c);
    if (seen.has(l)) throw new UsageError(`${what}: profile ${l} given twice`);
    seen.add(l);
  }
  return out;
}

/** One line for logs: "tcg, q35/bios, virtio-blk, 2 vCPUs, 2048 MiB" (arm64: "arm64 tcg, virt/uefi, ..."). */
export function describeProfile(p: VmProfile): string {
  const sb = p.secureBoot ? ` (Secure Boot${p.secureBoot === 'nomok' ? ', no MOK' : ''})` : '';
  const arch = p.arch === DEFAULT_ARCH ? '' : `${p.arch} `;
  return `${arch}${p.accel}, ${p.machine}/${p.firmware}${sb}, ${p.diskBus}, ${p.cpus} vCPUs, ${p.memoryMb} MiB`;
}
