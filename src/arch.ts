// The guest architectures: one table of what differs between them (Debian packages in the base,
// GRUB's EFI platform and file, the serial console, the QEMU binary, machine and firmware, the
// host packages that make each work). Everything else reads this table: no arch `if`s elsewhere.
import { UsageError } from './errors.js';

export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];
export const DEFAULT_ARCH: Arch = 'amd64';

/** Host files QEMU's UEFI firmware comes as: the code (read-only) and the template of the variables. */
export interface FirmwareFiles {
  code: string;
  varsTemplate: string;
}

export interface ArchSpec {
  arch: Arch;
  /** Debian's name for it (mmdebstrap --architectures, dpkg --print-architecture). */
  debian: string;
  /** `uname -m` in the guest. */
  uname: string;
  /** Debian packages of the base that differ per architecture (kernel, GRUB's images). */
  kernelPackage: string;
  headersPackage: string;
  grubPackages: readonly string[];
  /**
   * Debian's signed shim and GRUB, put on the ESP for UEFI Secure Boot (base/secure-boot-esp.ts):
   * in the bases of images built with `signing:` (config/load.ts); none for arm64 yet.
   */
  secureBootPackages: readonly string[];
  /** GRUB platforms the base's customize hook makes images for (i386-pc: BIOS; the EFI one). */
  grubPlatforms: readonly string[];
  /** Modules its EFI image needs besides the common ones (arm64: gzio, its vmlinuz is gzip-compressed). */
  grubExtraModules: readonly string[];
  /** The EFI platform and where its image goes on the ESP (firmware's removable-media path). */
  grubEfiPlatform: string;
  efiRemovablePath: string;
  /** Kernel console on the first serial port. */
  console: string;
  /** Firmware kinds the machine boots with (arm64's virt machine has no BIOS). */
  firmwares: ReadonlyArray<'bios' | 'uefi'>;
  qemuBinary: string;
  machine: 'q35' | 'virt';
  /** UEFI firmware candidates, first found wins (Debian's ovmf / qemu-efi-aarch64 packages). */
  uefiCandidates: readonly FirmwareFiles[];
  uefiPackage: string;
  /** -cpu under TCG (VEXFS_IMAGE_TCG_CPU overrides it): see TCG_CPUS' comments in tools/qemu.ts. */
  tcgCpu: string;
  /** Whether KVM can run it on this host (x86_64 hosts: amd64 only). */
  kvmCapable: boolean;
  /** Host tools and their Debian packages: to boot it, and to build its base from packages. */
  vmHostPackages: ReadonlyArray<{ tool: string; pkg: string }>;
  baseHostPackages: ReadonlyArray<{ tool: string; pkg: string }>;
  /** Disk buses its machine has (virt has no AHCI controller). */
  diskBuses: ReadonlyArray<'virtio-blk' | 'virtio-scsi' | 'nvme' | 'sata'>;
  /** Suffix of published file names: '' for amd64 (names as before), -arm64 otherwise. */
  fileSuffix: string;
}

const HOST_IS_X86_64 = process.arch === 'x64';

export const ARCH_SPECS: Readonly<Record<Arch, ArchSpec>> = Object.freeze({
  amd64: {
    arch: 'amd64',
    debian: 'amd64',
    uname: 'x86_64',
    kernelPackage: 'linux-image-cloud-amd64',
    headersPackage: 'linux-headers-cloud-amd64',
    grubPackages: ['grub-pc-bin', 'grub-efi-amd64-bin'],
    secureBootPackages: ['shim-signed', 'grub-efi-amd64-signed'],
    grubPlatforms: ['i386-pc', 'x86_64-efi'],
    grubEfiPlatform: 'x86_64-efi',
    grubExtraModules: [],
    efiRemovablePath: 'EFI/BOOT/BOOTX64.EFI',
    console: 'ttyS0',
    firmwares: ['bios', 'uefi'],
    qemuBinary: 'qemu-system-x86_64',
    machine: 'q35',
    uefiCandidates: [
      // Debian's 4 MiB flash layout first (the one it maintains; the 2 MiB files are for old VMs).
      { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
      { code: '/usr/share/OVMF/OVMF_CODE.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS.fd' },
    ],
    uefiPackage: 'ovmf',
    tcgCpu: 'qemu64,+ssse3,+sse4.1,+sse4.2,+popcnt,-svm',
    kvmCapable: HOST_IS_X86_64,
    vmHostPackages: [{ tool: 'qemu-system-x86_64', pkg: 'qemu-system-x86' }],
    baseHostPackages: [],
    diskBuses: ['virtio-blk', 'virtio-scsi', 'nvme', 'sata'],
    fileSuffix: '',
  },
  arm64: {
    arch: 'arm64',
    debian: 'arm64',
    uname: 'aarch64',
    kernelPackage: 'linux-image-cloud-arm64',
    headersPackage: 'linux-headers-cloud-arm64',
    grubPackages: ['grub-efi-arm64-bin'],
    secureBootPackages: [],
    grubPlatforms: ['arm64-efi'],
    grubEfiPlatform: 'arm64-efi',
    grubExtraModules: ['gzio'],
    efiRemovablePath: 'EFI/BOOT/BOOTAA64.EFI',
    console: 'ttyAMA0',
    firmwares: ['uefi'],
    qemuBinary: 'qemu-system-aarch64',
    machine: 'virt',
    uefiCandidates: [{ code: '/usr/share/AAVMF/AAVMF_CODE.fd', varsTemplate: '/usr/share/AAVMF/AAVMF_VARS.fd' }],
    uefiPackage: 'qemu-efi-aarch64',
    // Measured on this project's 2-core TCG host, validating the arm64 minimal image (docs/arm64.md):
    // SSH ready in 46.4 / 43.5 s with max,pauth-impdef=on, 63.8 / 52.2 s with cortex-a57, 70 s with
    // plain max (QARMA pointer authentication emulated on every signed call and return).
    // pauth-impdef=on keeps pointer authentication but with QEMU's cheap hash.
    tcgCpu: 'max,pauth-impdef=on',
    kvmCapable: false,
    vmHostPackages: [{ tool: 'qemu-system-aarch64', pkg: 'qemu-system-arm' }],
    // The base's maintainer scripts run under qemu-user through binfmt_misc (src/tools/binfmt.ts).
    baseHostPackages: [
      { tool: 'qemu-aarch64-static', pkg: 'qemu-user-static' },
      { tool: 'update-binfmts', pkg: 'binfmt-support' },
    ],
    diskBuses: ['virtio-blk', 'virtio-scsi', 'nvme'],
    fileSuffix: '-arm64',
  },
} satisfies Record<Arch, ArchSpec>);

export function isArch(v: string): v is Arch {
  return (ARCHES as readonly string[]).includes(v);
}

/** --arch / `arch:` → an Arch, or bad input (exit 2) naming the known ones. */
export function parseArch(v: string | undefined, what = '--arch'): Arch {
  if (v === undefined || v === '') return DEFAULT_ARCH;
  const lower = v.trim().toLowerCase();
  // The kernel's and QEMU's names for the same thing are accepted too.
  const alias: Record<string, Arch> = { x86_64: 'amd64', aarch64: 'arm64' };
  const a = alias[lower] ?? lower;
  if (!isArch(a)) throw new UsageError(`${what}: unknown architecture ${JSON.stringify(v)}: give ${ARCHES.join(' or ')}`);
  return a;
}

export function archSpec(a: Arch): ArchSpec {
  return ARCH_SPECS[a];
}

/** vexfs-minimal-1.0.0 (amd64, as before) or vexfs-minimal-1.0.0-arm64. */
export function archFileStem(stem: string, a: Arch): string {
  return `${stem}${ARCH_SPECS[a].fileSuffix}`;
}

/** "amd64,arm64" (comma-separated or repeated): each parsed, duplicates refused (a matrix axis). */
export function parseArchList(v: string | readonly string[], what = '--arch'): Arch[] {
  const words = (typeof v === 'string' ? [v] : v).flatMap((x) => x.split(',')).map((w) => w.trim()).filter(Boolean);
  if (!words.length) throw new UsageError(`${what}: no architecture given: give ${ARCHES.join(', ')}`);
  const out: Arch[] = [];
  for (const w of words) {
    const a = parseArch(w, what);
    if (out.includes(a)) throw new UsageError(`${what}: ${a} given twice`);
    out.push(a);
  }
  return out;
}
