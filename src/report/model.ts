// The validation result model: what validateImages() returns and every report writer consumes.
// The JSON report is this object serialised as-is; docs/report-format.md documents it and
// REPORT_SCHEMA_VERSION changes whenever a field changes meaning or disappears.
export const REPORT_SCHEMA = 'vexfs-image/validation-report';
export const REPORT_SCHEMA_VERSION = 1;

export type Severity = 'error' | 'warning';

/**
 * passed: the expectation held. failed: it did not. skipped: not run because a check it needs
 * did not pass. error: could not be run at all (the SSH connection broke, the guest died).
 */
export type CheckStatus = 'passed' | 'failed' | 'skipped' | 'error';

export interface CheckResult {
  id: string;
  description: string;
  group: string;
  type: string;
  severity: Severity;
  status: CheckStatus;
  /** One line: why it failed, or what was seen when it passed. */
  message: string;
  durationMs: number;
  attempts: number;
  /** The shell script run in the guest (after template substitution). */
  command?: string;
  exitCode?: number | null;
  /** Last lines of the command's stdout and stderr (control characters stripped). */
  output?: string;
}

/** Why an image could not be validated at all: boot or SSH trouble, never a check failing. */
export interface ImageError {
  /** 'kernel panic', 'emergency shell', 'root filesystem not mounted', 'no bootable device',
   *  'qemu exited', 'ssh timeout', 'cloud-init timeout', 'image unreadable', 'image modified',
   *  'interrupted', 'internal'. */
  kind: string;
  /** The step that failed (inspect, overlay, seed, boot, wait-ssh, wait-cloud-init, checks). */
  step: string;
  message: string;
  /** The last 30 lines of the serial console, when the VM had started. */
  serialTail?: string;
}

export interface ImageResult {
  /** Image file name without .qcow2, e.g. vexfs-minimal-1.0.0. */
  name: string;
  path: string;
  variant: string;
  version: string;
  /** Where variant and version came from: the manifest next to the image, its name, or unknown. */
  identitySource: 'manifest' | 'filename' | 'unknown';
  /** The image's architecture (amd64, arm64), as validated; absent in reports from before it was recorded. */
  architecture?: string;
  /** passed: no failed error-severity check. failed: at least one. error: checks could not run. */
  status: 'passed' | 'failed' | 'error';
  accel: string;
  /** In a matrix run (--profile): the VM profile this row was validated under, e.g. uefi-nvme-512m-2cpu. */
  profile?: string;
  startedAt: string;
  timings: {
    /** QEMU started -> first successful SSH command. */
    sshReadyMs: number | null;
    /** QEMU started -> `cloud-init status --wait` returned. */
    cloudInitDoneMs: number | null;
    /** Sum of the checks' wall time. */
    checksMs: number | null;
    /** The whole validation of this image, overlay to teardown. */
    totalMs: number;
    steps: Array<{ step: string; ms: number; status: 'ok' | 'failed' | 'skipped' }>;
  };
  cloudInit: { status: string; detail?: string } | null;
  /** sha256 of the image before and after (only with --checksum). */
  sha256?: { before: string; after: string };
  error?: ImageError;
  checks: CheckResult[];
  summary: CheckSummary;
  /** Per-image log directory (serial console, QEMU, steps, checks); may be removed after the run. */
  logDir?: string;
}

export interface CheckSummary {
  total: number;
  passed: number;
  /** Failed checks with severity error. */
  failed: number;
  /** Failed checks with severity warning. */
  warnings: number;
  skipped: number;
  errors: number;
}

export interface ValidationReport {
  schema: typeof REPORT_SCHEMA;
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  tool: { name: 'vexfs-image'; version: string };
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** true when the exit code is 0: no image errored and no error-severity check failed. */
  ok: boolean;
  options: { bootTimeoutS: number; sshTimeoutS: number; jobs: number; accel: string };
  summary: {
    images: number;
    passed: number;
    failed: number;
    errors: number;
    checks: CheckSummary;
  };
  images: ImageResult[];
}

/** A row's name in reports: the image, and its profile in a matrix run. */
export function rowName(img: Pick<ImageResult, 'name' | 'profile'>): string {
  return img.profile ? `${img.name} [${img.profile}]` : img.name;
}

export function summarizeChecks(checks: readonly CheckResult[]): CheckSummary {
  const s: CheckSummary = { total: checks.length, passed: 0, failed: 0, warnings: 0, skipped: 0, errors: 0 };
  for (const c of checks) {
    if (c.status === 'passed') s.passed++;
    else if (c.status === 'skipped') s.skipped++;
    else if (c.status === 'error') s.errors++;
    else if (c.severity === 'warning') s.warnings++;
    else s.failed++;
  }
  return s;
}

/** An image passes when nothing errored and no error-severity check failed. */
export function imageStatus(checks: readonly CheckResult[], error: ImageError | undefined): ImageResult['status'] {
  if (error) return 'error';
  return checks.some((c) => c.severity === 'error' && (c.status === 'failed' || c.status === 'error')) ? 'failed' : 'passed';
}

export function buildReport(
  images: ImageResult[],
  meta: { startedAt: Date; finishedAt: Date; toolVersion: string; options: ValidationReport['options'] },
): ValidationReport {
  const all = images.flatMap((i) => i.checks);
  return {
    schema: REPORT_SCHEMA,
    schemaVersion: REPORT_SCHEMA_VERSION,
    tool: { name: 'vexfs-image', version: meta.toolVersion },
    startedAt: meta.startedAt.toISOString(),
    finishedAt: meta.finishedAt.toISOString(),
    durationMs: meta.finishedAt.getTime() - meta.startedAt.getTime(),
    ok: images.every((i) => i.status === 'passed'),
    options: meta.options,
    summary: {
      images: images.length,
      passed: images.filter((i) => i.status === 'passed').length,
      failed: images.filter((i) => i.status === 'failed').length,
      errors: images.filter((i) => i.status === 'error').length,
      checks: summarizeChecks(all),
    },
    images,
  };
}

/** Strips C0/C1 control characters (except tab and newline) and ANSI escape sequences. */
export function stripControl(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/\r\n?/g, '\n').replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, '');
}
