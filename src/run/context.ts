// What one `vexfs-image run` shares between its steps.
import type { VmProfile } from '../tools/qemu.js';
import { VM_DEFAULTS } from '../vm/profile.js';
import type { HasSession } from '../vm/session.js';
import type { InstanceState } from './state.js';

export const RUN_DEFAULTS = Object.freeze({
  ...VM_DEFAULTS,
  /** How long the guest gets to power off after ACPI powerdown before QEMU is killed. */
  shutdownTimeoutS: 30,
});

export interface RunInstanceOptions {
  /** Absolute path of the image (never written). */
  image: string;
  name: string;
  user: string;
  profile: VmProfile;
  /** Give the guest the host's network (default: none beyond the SSH forward). */
  network?: boolean;
  bootTimeoutS: number;
  sshTimeoutS: number;
  shutdownTimeoutS?: number;
  /** Parent of the instances directory (defaultCacheDir()). */
  cacheDir: string;
  /** Keep the instance directory (overlay, logs, key) after exit. */
  noCleanup: boolean;
  signal: AbortSignal;
  onInfo?(message: string): void;
  onWarn?(message: string): void;
  /** SSH works: the caller prints how to connect. */
  onReady(state: InstanceState, dir: string): void;
}

export interface RunOutcome {
  state: InstanceState;
  /** The guest powered itself off (QEMU exited 0). */
  poweredOff: true;
  sshReadyMs: number;
}

export interface RunContext extends HasSession {
  readonly o: RunInstanceOptions;
  /** The instance directory (claimed before the steps run). */
  readonly dir: string;
  readonly state: InstanceState;
  ready: boolean;
  outcome?: RunOutcome;
}
