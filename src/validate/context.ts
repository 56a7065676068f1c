// What validating one image shares between its steps: the target and options in, the VM
// session, the check results and the image's digests out.
import type { CheckDef } from '../config/schema.js';
import { GuestError } from '../errors.js';
import type { EventSink } from '../pipeline/events.js';
import type { CheckResult } from '../report/model.js';
import type { VmProfile } from '../tools/qemu.js';
import type { HasSession } from '../vm/session.js';
import type { ImageTarget } from './discover.js';

export interface ValidateImageOptions {
  /** The merged check list (built-in + user); narrowed to the image's variant here. */
  checks: readonly CheckDef[];
  bootTimeoutS: number;
  sshTimeoutS: number;
  profile: VmProfile;
  /** In a matrix run: the row's profile name (profileLabel), carried into every report. */
  profileLabel?: string;
  /** Give the guest the host's network (default: none beyond the SSH forward). */
  network?: boolean;
  /** The tool's cache: an image's backing files may live there. */
  cacheDir?: string;
  /** Parent of the per-image work directories (default: a fresh directory under $TMPDIR). */
  workDir?: string;
  noCleanup: boolean;
  /** Hash the image before and after and fail if it changed (and if it differs from its manifest). */
  checksum: boolean;
  /** Clean ACPI shutdown at the end instead of killing QEMU (slower; the overlay is discarded anyway). */
  cleanShutdown?: boolean;
  /** Copy serial.log, qemu.log and checks.log of the image here (kept even when work dirs are removed). */
  logsOutDir?: string;
  signal: AbortSignal;
  emit: EventSink;
  onCheck?(image: ImageTarget, result: CheckResult): void;
}

export interface ValidateContext extends HasSession {
  readonly target: ImageTarget;
  readonly opts: ValidateImageOptions;
  /** The image's work directory (0700), also the session's. */
  readonly dir: string;
  readonly logDir: string;
  format?: string;
  checks?: CheckResult[];
  checksMs?: number;
  sha256Before?: string;
  sha256After?: string;
}

/** An image-level failure with a classification for the reports. */
export class ImageFailure extends GuestError {
  constructor(
    readonly kind: string,
    message: string,
    readonly serialTail?: string,
  ) {
    super(message);
  }
}
