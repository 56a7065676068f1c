// One VM session: the state shared by the VM lifecycle steps (src/vm/steps/) that build,
// validate and run all use — overlay, access seed and ephemeral key, boot, wait for SSH, wait for
// cloud-init, power off. A caller's context carries a `session` field; the steps read its options
// and write its typed fields. Every QEMU the tool starts is started by the boot step.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TimeoutError } from '../errors.js';
import type { SpawnedProcess } from '../tools/exec.js';
import type { DriveSpec, VirtfsShare, Vm, VmProfile } from '../tools/qemu.js';
import type { SeedInput } from '../tools/seed.js';
import type { SshKey, SshTarget } from '../tools/ssh.js';
import { makeOwnedTempDir, removeOrphans } from '../tools/owned-dir.js';

const SOCKET_DIR_PREFIX = 'vxs-';

/** cloud-init's outcome on this boot (its result.json), or why there is none. */
export interface CloudInitOutcome {
  status: 'done' | 'degraded' | 'error' | 'absent' | 'timeout' | 'unknown';
  detail?: string;
}

/**
 * Kernel arguments for a throw-away direct-boot VM that runs only our own code: no speculative-
 * execution mitigations (nothing untrusted runs in it; the VM is the boundary), the emulated TSC
 * trusted without a watchdog or timer check. A bare TCG boot of the image's kernel to a busybox
 * /init: 3.10 s against 3.46 s without them (3 interleaved runs each; docs/fast-loop.md).
 */
export const FAST_BOOT_ARGS = 'mitigations=off tsc=reliable no_timer_check';

export interface VmSessionOptions {
  /** QEMU's -name, and the prefix of log lines. */
  name: string;
  profile: VmProfile;
  /** The session's own directory (0700): overlay, key, seed, serial and QEMU logs. */
  dir: string;
  /** Login user the seed creates (or the image already has). */
  user: string;
  /** The seed for this boot, given the ephemeral public key. Its instance-id is waited for. */
  seed(publicKey: string): SeedInput | Promise<SeedInput>;
  /** The tool's cache: backing files may live there as well as beside the image. */
  cacheDir?: string;
  /** Overlay: grow to this size (build); discard passes trims through so the file shrinks. */
  diskSizeBytes?: number;
  discard?: boolean;
  /** From power-on to SSH (and, at least cloudInitMinMs, to cloud-init done). */
  bootTimeoutMs: number;
  cloudInitMinMs?: number;
  /** What to tell the user when the time is up, e.g. "pass a larger --timeout". */
  timeoutHint: string;
  /** isolated: no network for the guest beyond the SSH forward (validate, run); full: slirp NAT (build: apt). */
  network: 'isolated' | 'full';
  /** Keep one SSH ControlMaster and send every later command through it. */
  master?: boolean;
  /** cloud-init failing on this boot: the build fails; validate records it; run warns. */
  cloudInitErrors: 'fail' | 'record';
  /** How the power-off step stops the guest: ACPI (with a deadline, then kill) or kill. */
  powerOff: { acpiTimeoutMs: number } | 'kill';
  /** QEMU gets the run's abort signal (SIGTERM on Ctrl-C); run powers off over ACPI instead. */
  killOnAbort: boolean;
  /** QEMU log file (default dir/qemu.log). */
  qemuLog?: string;
  /**
   * Boot this kernel and initramfs directly (-kernel/-initrd), with no seed or SSH, and no disk
   * but the overlay when there is one: the quick module test (src/quick/) and an incremental
   * build's install VM (builder/incremental/), whose guests report over the serial console.
   */
  directKernel?: { kernel: string; initrd: string; append: string };
  /**
   * A machine whose state can be saved and restored (src/vm/snapshot.ts): a VM-generation ID
   * device, so a restored guest reseeds its RNG. Saver and restorer must have the same devices.
   */
  snapshotable?: boolean;
}

/**
 * A saved, booted, cloud-init-finished VM to resume instead of powering on (src/vm/snapshot.ts):
 * its machine state, the seed and key it was booted with, the instance-id cloud-init finished.
 * The session's overlay is backed by the snapshot's disk.
 */
export interface RestorePoint {
  state: string;
  seedIso: string;
  key: SshKey;
  instanceId: string;
}

export interface VmSession {
  readonly opts: VmSessionOptions;
  /** Short directory for unix sockets (QMP, SSH control): sun_path is 108 bytes. */
  sockDir?: string;
  /** The image the overlay is backed by (never written): set before the overlay step. */
  backing?: { path: string; format: string };
  overlay?: string;
  /** More drives after the overlay (the build's read-only source disk). */
  extraDrives: DriveSpec[];
  virtfs: VirtfsShare[];
  /** Resume this saved VM instead of booting (set before the access-seed step). */
  restoreFrom?: RestorePoint;
  instanceId?: string;
  seedIso?: string;
  ssh?: SshTarget;
  vm?: Vm;
  master?: SpawnedProcess;
  poweredOnAt?: number;
  sshReadyMs?: number;
  cloudInitDoneMs?: number;
  cloudInit?: CloudInitOutcome;
  /** /proc/sys/kernel/tainted once cloud-init was done (read in the same round trip). */
  taintAtReady?: string;
  /** The guest powered off on ACPI request within its deadline. */
  cleanShutdown?: boolean;
}

export interface HasSession {
  session: VmSession;
}

export function newSession(opts: VmSessionOptions): VmSession {
  return { opts, extraDrives: [], virtfs: [] };
}

export const serialLogOf = (s: VmSession): string => join(s.opts.dir, 'serial.log');
export const qemuLogOf = (s: VmSession): string => s.opts.qemuLog ?? join(s.opts.dir, 'qemu.log');

/**
 * The session directory itself when socket paths fit in it, else a fresh one under $TMPDIR.
 * sun_path holds 107 bytes, and ssh first binds its control socket at the path plus a
 * 17-character random suffix: hence the margin.
 */
export async function socketDir(s: VmSession): Promise<string> {
  if (s.sockDir) return s.sockDir;
  if (join(s.opts.dir, 'ssh-control').length <= 88) return (s.sockDir = s.opts.dir);
  // Owned, so that what a killed run left here is found and removed by the next one.
  await removeOrphans(tmpdir(), (n) => n.startsWith(SOCKET_DIR_PREFIX));
  return (s.sockDir = await makeOwnedTempDir(tmpdir(), SOCKET_DIR_PREFIX));
}

/** Time left of the boot deadline (power-on + bootTimeoutMs); throws once it has passed. */
export function timeLeftMs(s: VmSession, what: string): number {
  const left = (s.poweredOnAt ?? Date.now()) + s.opts.bootTimeoutMs - Date.now();
  if (left <= 0) throw new TimeoutError(`${what}: not done within ${Math.round(s.opts.bootTimeoutMs / 1000)} s of power-on`, { hint: s.opts.timeoutHint });
  return left;
}

/** Throws VmExitedError (with its kind and the serial tail) when the guest died or will not boot. */
export async function assertAlive(s: VmSession): Promise<void> {
  await s.vm?.assertHealthy();
}
