// QEMU: a pure command-line builder (unit-tested) and a VM handle that owns one QEMU process:
// serial console to a file, QMP socket for ACPI powerdown, SSH forwarded from 127.0.0.1 only.
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { spawnProcess, type SpawnedProcess } from './exec.js';
import { which } from './host-tools.js';
import { QmpClient } from './qmp.js';
import { shellQuote } from './ssh.js';
import { VexfsImageError } from '../errors.js';
import { archSpec, type Arch } from '../arch.js';

export type Accel = 'kvm' | 'tcg';
export const FIRMWARES = ['bios', 'uefi'] as const;
export type Firmware = (typeof FIRMWARES)[number];
/** How the boot disk is attached: what clouds present (virtio: KVM clouds, GCP; NVMe: AWS Nitro, Azure v6; SATA: older hypervisors). */
export const DISK_BUSES = ['virtio-blk', 'virtio-scsi', 'nvme', 'sata'] as const;
export type DiskBus = (typeof DISK_BUSES)[number];

export const SECURE_BOOT_MODES = ['mok', 'nomok'] as const;
export type SecureBootMode = (typeof SECURE_BOOT_MODES)[number];

/** OVMF's two flash images: the code (mapped read-only) and the template of the variable store. */
export interface UefiFirmware {
  code: string;
  varsTemplate: string;
  /**
   * Secure Boot firmware (OVMF's secboot build with Microsoft's keys enrolled): the machine
   * gets SMM and a secure flash, without which that build refuses to run.
   */
  secureBoot?: boolean;
  /** Certificates (PEM or DER files) written into the VM's variable store as shim's MokList. */
  mokCertificates?: readonly string[];
}

/** The virtual hardware of a VM (resolved once per run by src/vm/profile.ts). */
export interface VmProfile {
  /** The guest architecture: QEMU's binary, and with machine, what the devices hang off. */
  arch: Arch;
  /** q35 (amd64) or virt (arm64): src/arch.ts. */
  machine: 'q35' | 'virt';
  firmware: Firmware;
  /** Set when firmware is uefi: the host's OVMF files. */
  uefi?: UefiFirmware;
  /** UEFI Secure Boot (firmware uefi): `mok` enrols the image's module certificate, `nomok` does not. */
  secureBoot?: SecureBootMode;
  /** -cpu value: the arch's TCG model (VEXFS_IMAGE_TCG_CPU, VEXFS_IMAGE_TCG_CPU_ARM64) under TCG, `host` under KVM. */
  cpuModel: string;
  /** The boot disk's bus; other drives (seed, source disk) stay virtio-blk. */
  diskBus: DiskBus;
  memoryMb: number;
  cpus: number;
  accel: Accel;
}

export interface DriveSpec {
  file: string;
  format: 'qcow2' | 'raw';
  readOnly?: boolean;
  /** Pass guest discards (fstrim) through so the image file really shrinks. */
  discard?: boolean;
  /** Shows up in the guest as /dev/disk/by-id/virtio-<serial>. */
  serial?: string;
}

export interface VirtfsShare {
  path: string;
  mountTag: string;
  readOnly: boolean;
}

export interface VmSpec {
  name: string;
  profile: VmProfile;
  drives: DriveSpec[];
  /** cloud-init NoCloud seed ISO, attached read-only. */
  seedIso?: string;
  sshPort?: number;
  /**
   * slirp's restrict=on: the guest reaches neither the host nor anything beyond it (DHCP still
   * answers); the SSH forward still works. For guests that only need to be logged into.
   */
  isolated?: boolean;
  serialLog: string;
  qmpSocket: string;
  pidFile?: string;
  virtfs?: VirtfsShare[];
  /** UEFI only: this VM's own writable copy of OVMF's variable store (in its 0700 work dir). */
  uefiVars?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  /**
   * A VM-generation ID device: a restored snapshot's guest kernel sees a new ID and reseeds its
   * random number generator (Linux's vmgenid driver), so no two restores share a CRNG state.
   * Part of the machine: a snapshot is restored only into a VM with the same devices.
   */
  vmgenid?: boolean;
  /** Start from this saved machine state (a migration stream written by Vm.saveState) instead of powering on. */
  incoming?: string;
}

/**
 * CPU model under TCG: x86-64-v2 (what current distributions require) on QEMU's AMD-flavoured
 * qemu64, without AVX, PKU or 5-level paging. `-cpu max` offers all of those, and on this
 * project's 2-core TCG runners it booted the same image to SSH-ready ~10 s slower (82.8–98.0 s
 * against 79.1–79.3 s in alternating validate runs, which scripts/bench-validate.mjs --cpu
 * repeats; docs/boot-speed.md). The vendor
 * matters too: an Intel model would make the guest kernel turn on Meltdown page-table isolation,
 * a TLB flush per system call (not measured). No SVM: with it udev loads kvm + kvm_amd (1.5 MB of
 * module) on every boot for a hypervisor nobody runs. VEXFS_IMAGE_TCG_CPU overrides it.
 */
export const TCG_CPU = archSpec('amd64').tcgCpu;

/**
 * The -device for the boot disk on the profile's bus (bootindex 0: SeaBIOS and OVMF boot it
 * first). Not with -kernel: QEMU's linuxboot option ROM holds bootindex 0 then, and the disk is
 * only a disk.
 */
export function bootDiskDevices(bus: DiskBus, drive: string, serial: string | undefined, bootIndex = true): string[] {
  const sn = serial ? `,serial=${serial}` : '';
  const bi = bootIndex ? ',bootindex=0' : '';
  switch (bus) {
    case 'virtio-blk':
      return ['-device', `virtio-blk-pci,drive=${drive}${sn}${bi}`];
    case 'virtio-scsi':
      return ['-device', 'virtio-scsi-pci,id=scsi0', '-device', `scsi-hd,drive=${drive},bus=scsi0.0${sn}${bi}`];
    case 'nvme':
      // QEMU's NVMe controller will not start without a serial number.
      return ['-device', `nvme,drive=${drive},serial=${serial ?? 'vexfs-boot'}${bi}`];
    case 'sata':
      // q35's built-in ICH9 AHCI controller (its ports are ide.0 to ide.5); virt has none (src/arch.ts diskBuses).
      return ['-device', `ide-hd,drive=${drive},bus=ide.0${sn}${bi}`];
  }
}

export function qemuArgs(spec: VmSpec): string[] {
  // No SATA controller, SMBus or VMware port: the disks are virtio, and each of those makes
  // the guest load drivers on every boot (libata+ahci probing six empty ports, i2c). The sata
  // profile keeps q35's AHCI controller: its boot disk hangs off it.
  const p = spec.profile;
  const sata = p.diskBus === 'sata' ? '' : ',sata=off';
  // virt (arm64) has none of q35's legacy devices to turn off: PCIe, a PL011 UART and the firmware's flash.
  const legacy = p.machine === 'q35' ? `${sata},smbus=off,vmport=off` : '';
  const smm = p.firmware === 'uefi' && p.uefi?.secureBoot ? ',smm=on' : '';
  const machine = `${p.machine}${legacy}${smm}${p.accel === 'kvm' ? ',accel=kvm' : ''}`;
  const a: string[] = ['-name', spec.name, '-machine', machine, '-nodefaults', '-display', 'none'];
  if (p.firmware === 'uefi') {
    if (!p.uefi || !spec.uefiVars) throw new VexfsImageError('E_VM_SPEC', 'a UEFI VM needs the OVMF code and its own copy of the variable store');
    // OVMF's code read-only, the VM's own variable store writable (boot entries it records).
    a.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${p.uefi.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${spec.uefiVars}`);
    // Only code running in SMM may write the variable store: what makes Secure Boot's keys
    // (and MokList) something the guest OS cannot change.
    if (p.uefi.secureBoot) a.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  }
  if (p.accel === 'tcg') a.push('-accel', 'tcg,thread=multi');
  a.push('-cpu', p.cpuModel);
  a.push('-smp', String(p.cpus), '-m', String(p.memoryMb));
  a.push('-chardev', `file,id=serial0,path=${spec.serialLog}`, '-serial', 'chardev:serial0');
  a.push('-qmp', `unix:${spec.qmpSocket},server=on,wait=off`);
  if (spec.pidFile) a.push('-pidfile', spec.pidFile);
  // Entropy for sshd key generation and cloud-init on first boot.
  a.push('-device', 'virtio-rng-pci');
  if (spec.vmgenid) a.push('-device', 'vmgenid,guid=auto');
  // -drive if=none + -device virtio-blk-pci: the only form that takes a serial number.
  const drives: DriveSpec[] = [...spec.drives];
  if (spec.seedIso) drives.push({ file: spec.seedIso, format: 'raw', readOnly: true });
  drives.forEach((d, i) => {
    const opts = [`file=${d.file}`, `format=${d.format}`, 'if=none', `id=drive${i}`, 'cache=unsafe'];
    if (d.readOnly) opts.push('readonly=on');
    if (d.discard) opts.push('discard=unmap', 'detect-zeroes=unmap');
    a.push('-drive', opts.join(','));
    if (i === 0) a.push(...bootDiskDevices(p.diskBus, `drive${i}`, d.serial, !spec.kernel));
    else a.push('-device', `virtio-blk-pci,drive=drive${i}${d.serial ? `,serial=${d.serial}` : ''}`);
  });
  if (spec.sshPort !== undefined) {
    // hostfwd binds 127.0.0.1 explicitly: never expose the guest's sshd beyond loopback.
    a.push('-netdev', `user,id=net0${spec.isolated ? ',restrict=on' : ''},hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`, '-device', 'virtio-net-pci,netdev=net0');
  } else {
    a.push('-netdev', `user,id=net0${spec.isolated ? ',restrict=on' : ''}`, '-device', 'virtio-net-pci,netdev=net0');
  }
  for (const share of spec.virtfs ?? []) {
    const ro = share.readOnly ? ',readonly=on' : '';
    a.push('-virtfs', `local,path=${share.path},mount_tag=${share.mountTag},security_model=none,id=${share.mountTag}${ro}`);
  }
  // SeaBIOS prints on the serial port too, so "no bootable device" is visible in serial.log.
  if (!spec.kernel && p.firmware === 'bios') a.push('-fw_cfg', 'name=etc/sercon-port,string=0x3f8');
  if (spec.kernel) a.push('-kernel', spec.kernel);
  if (spec.initrd) a.push('-initrd', spec.initrd);
  if (spec.append) a.push('-append', spec.append);
  // QEMU runs exec: URIs with /bin/sh -c, hence the quoting; QEMU 7.2 has no file: URI.
  if (spec.incoming) a.push('-incoming', `exec:cat ${shellQuote(spec.incoming)}`);
  return a;
}

/** The QEMU system emulator for a profile's architecture (qemu-system-x86_64, qemu-system-aarch64). */
export function qemuBinary(p: Pick<VmProfile, 'arch'>): string {
  return archSpec(p.arch).qemuBinary;
}

/** Patterns in a serial log that mean the guest is not going to come up. */
const FATAL_PATTERNS: Array<[RegExp, string]> = [
  [/Kernel panic - not syncing[^\n]*/, 'kernel panic'],
  [/You are in emergency mode[^\n]*/, 'emergency shell'],
  [/Give root password for maintenance[^\n]*/, 'emergency shell'],
  [/Failed to mount \/sysroot[^\n]*|VFS: Unable to mount root fs[^\n]*|ALERT! [^\n]* does not exist[^\n]*/, 'root filesystem not mounted'],
  [/Gave up waiting for root (file system )?device[^\n]*/, 'root filesystem not mounted'],
  [/No bootable device[^\n]*|Boot failed: not a bootable disk[^\n]*/, 'no bootable device'],
  // OVMF tried every entry and the removable path \EFI\BOOT\BOOTX64.EFI (a single entry failing is not fatal).
  [/BdsDxe: No bootable option or device was found[^\n]*/, 'no bootable device'],
];

export interface BootFailure {
  kind: string;
  line: string;
}

export function detectBootFailure(serial: string): BootFailure | undefined {
  for (const [re, kind] of FATAL_PATTERNS) {
    const m = re.exec(serial);
    if (m) return { kind, line: m[0].trim() };
  }
  return undefined;
}

/** `setpriv --pdeathsig KILL --`: QEMU dies with the tool even when that is SIGKILLed (util-linux, Linux only). */
export function dieWithParentPrefix(): string[] {
  const setpriv = process.platform === 'linux' ? which('setpriv') : undefined;
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

/** The guest will not come up (or went away): `kind` classifies it for reports. */
export class VmExitedError extends VexfsImageError {
  constructor(
    message: string,
    hint?: string,
    /** kernel panic, emergency shell, root filesystem not mounted, no bootable device, qemu exited */
    readonly kind: string = 'qemu exited',
    /** The serial console's last lines when it was detected. */
    readonly serialTail?: string,
  ) {
    super('E_VM_EXITED', message, { hint });
  }
}

export class Vm {
  private qmp: QmpClient | undefined;
  private stopped = false;

  private constructor(
    readonly spec: VmSpec,
    readonly proc: SpawnedProcess,
    readonly logFile: string | undefined,
  ) {}

  /**
   * QEMU runs through `setpriv --pdeathsig KILL` (which execs it: same pid), so that no QEMU
   * outlives the tool, SIGKILL included. opts.prefix replaces that wrapper (tests).
   */
  static async start(spec: VmSpec, opts: { signal?: AbortSignal; logFile?: string; binary?: string; prefix?: string[] } = {}): Promise<Vm> {
    const argv = [...(opts.prefix ?? dieWithParentPrefix()), opts.binary ?? qemuBinary(spec.profile), ...qemuArgs(spec)];
    const proc = spawnProcess(argv[0]!, argv.slice(1), { logFile: opts.logFile, signal: opts.signal });
    const vm = new Vm(spec, proc, opts.logFile);
    try {
      vm.qmp = await Promise.race([
        QmpClient.connect(spec.qmpSocket, 15_000),
        proc.exited.then(async () => {
          throw new VmExitedError(`QEMU exited at start-up: ${await vm.logTail(10)}`, opts.logFile ? `see ${opts.logFile}` : undefined);
        }),
      ]);
    } catch (e) {
      await proc.stop(1000);
      throw e;
    }
    return vm;
  }

  isRunning(): boolean {
    return this.proc.isRunning();
  }

  async serial(): Promise<string> {
    try {
      return await readFile(this.spec.serialLog, 'utf8');
    } catch {
      return '';
    }
  }

  async serialTail(n = 30): Promise<string> {
    const s = await this.serial();
    return s.replace(/\r/g, '').split('\n').slice(-n).join('\n');
  }

  private async logTail(n: number): Promise<string> {
    if (!this.logFile) return '';
    try {
      const lines = (await readFile(this.logFile, 'utf8')).trim().split('\n');
      return lines.filter((l) => !l.startsWith('$ ')).slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  /** Throws if the VM has exited or its serial console shows a fatal boot failure. */
  async assertHealthy(): Promise<void> {
    const serial = await this.serial();
    const failure = detectBootFailure(serial);
    if (failure) {
      const tail = await this.serialTail(30);
      throw new VmExitedError(`guest boot failed: ${failure.kind} (${failure.line})\n--- last serial lines ---\n${tail}`, `see ${this.spec.serialLog}`, failure.kind, tail);
    }
    if (!this.proc.isRunning()) {
      const tail = await this.serialTail(30);
      throw new VmExitedError(`QEMU exited unexpectedly\n--- last serial lines ---\n${tail}`, `see ${this.spec.serialLog}`, 'qemu exited', tail);
    }
  }

  /**
   * ACPI powerdown over QMP, wait up to timeoutMs for the guest to power off, then SIGTERM and
   * SIGKILL. Returns true when the guest shut down cleanly. Safe to call twice.
   */
  async shutdown(timeoutMs = 60_000): Promise<boolean> {
    if (this.stopped || !this.proc.isRunning()) {
      this.stopped = true;
      this.qmp?.close();
      await this.proc.stop(1000);
      return true; // already off
    }
    this.stopped = true;
    let clean = false;
    try {
      await this.qmp?.execute('system_powerdown');
      clean = await Promise.race([
        this.proc.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref()),
      ]);
    } catch {
      clean = false;
    }
    this.qmp?.close();
    await this.proc.stop(5000);
    return clean;
  }

  /**
   * Saves the machine's state to file (a migration stream) with the guest paused, so that a disk
   * copied before resume() matches it. QMP `stop` first makes QEMU drain and flush its block
   * devices (qcow2 metadata included), then `migrate` writes RAM and device state.
   */
  async saveState(file: string, timeoutMs: number): Promise<void> {
    const qmp = this.requireQmp();
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(file)}` });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (r.status === 'completed') return;
      if (r.status === 'failed' || r.status === 'cancelled') throw new VexfsImageError('E_VM_SNAPSHOT', `saving the VM's state failed: ${r['error-desc'] ?? r.status}`);
      if (Date.now() > deadline) throw new VexfsImageError('E_VM_SNAPSHOT', `saving the VM's state took over ${Math.round(timeoutMs / 1000)} s`);
      await delay(100);
    }
  }

  /** Lets the guest run again (after saveState, or once an incoming state is loaded). */
  async resume(): Promise<void> {
    await this.requireQmp().execute('cont');
  }

  /**
   * Waits until QEMU has loaded the incoming state (status "paused" after "inmigrate"), then
   * resumes the guest. A state QEMU cannot load makes it exit: VmExitedError with its log.
   */
  async resumeIncoming(timeoutMs: number): Promise<void> {
    const qmp = this.requireQmp();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.proc.isRunning()) throw new VmExitedError(`QEMU could not load the saved state: ${await this.logTail(10)}`, this.logFile ? `see ${this.logFile}` : undefined, 'restore failed');
      const r = (await qmp.execute('query-status').catch(() => ({}))) as { status?: string };
      if (r.status === 'paused' || r.status === 'postmigrate' || r.status === 'running') break;
      if (Date.now() > deadline) throw new VmExitedError(`QEMU did not load the saved state within ${Math.round(timeoutMs / 1000)} s`, undefined, 'restore failed');
      await delay(100);
    }
    await qmp.execute('cont');
  }

  private requireQmp(): QmpClient {
    if (!this.qmp) throw new VexfsImageError('E_VM_SPEC', 'no QMP connection to this VM');
    return this.qmp;
  }

  /** Immediate stop (cleanup paths): SIGTERM then SIGKILL. */
  async kill(): Promise<void> {
    this.stopped = true;
    this.qmp?.close();
    await this.proc.stop(3000);
  }
}
