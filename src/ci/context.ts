// What the CI steps share: the run's options and dependencies, what earlier steps found (the
// accelerator, the config, the build plans), the per-variant records, and the manifest.
import type { BuildFlags, BuildPlan, LoadedConfig } from '../config/load.js';
import type { DoctorReport } from '../doctor.js';
import type { EventSink } from '../pipeline/events.js';
import type { ValidationReport } from '../report/model.js';
import type { Accel } from '../tools/qemu.js';
import type { Arch } from '../arch.js';
import type { CiInputs } from './inputs.js';
import type { CiManifest, ImageRecord } from './manifest.js';
import type { notify as defaultNotify } from './notify.js';
import type { ScriptCheckResult } from './prechecks.js';
import type { MatrixProfile } from './variant-run.js';
import type { ReportFiles } from './reports.js';
import type { StageRecorder } from './stages.js';
import type { BuildFn, ValidateFn, VariantRunOutcome } from './variant-run.js';

export interface CiOptions {
  /** --variant values as given (repeatable, comma lists); empty = every configured variant. */
  variants: readonly string[];
  jobs: number;
  failFast: boolean;
  artifactsDir: string;
  force: boolean;
  /** Passed to every build (variant, version and output dir are set by ci). */
  buildFlags: Omit<BuildFlags, 'variant' | 'version' | 'outputDir'>;
  /** --version */
  version?: string;
  /** --arch: every variant built for each (the matrix's architecture axis); absent: the config's or amd64. */
  arches?: readonly Arch[];
  notifyUrl?: string;
  /** Cores to share between --jobs VMs (default: os.availableParallelism()). */
  hostCpus?: number;
  /** Recorded in the validation report's options. */
  validateTimeouts?: { bootTimeoutS: number; sshTimeoutS: number };
  /** --profile: every image validated under each (a row per variant and profile); none = the default profile. */
  profiles?: readonly MatrixProfile[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
  emit: EventSink;
}

export interface ValidateSetup {
  config: LoadedConfig;
  /** vCPUs per validation VM: --cpus, or the share of the host's cores with --jobs > 1. */
  cpus?: number;
  accel: Accel;
  artifactsDir: string;
  buildDir: string;
  noCleanup: boolean;
}

export interface CiDeps {
  doctor(opts: { cacheDir: string; signal?: AbortSignal }): Promise<DoctorReport>;
  build: BuildFn;
  /** Makes the per-image validation function once the environment and config are known. */
  makeValidate(setup: ValidateSetup): ValidateFn;
  checkScripts?(opts: { signal: AbortSignal; logFile: string }): Promise<ScriptCheckResult>;
  notify?: typeof defaultNotify;
  gitHead?(dir: string): Promise<string | undefined>;
  now?(): number;
}

export interface CiContext {
  readonly opts: CiOptions;
  readonly deps: CiDeps;
  /** The artifacts directory. */
  readonly root: string;
  readonly inputs: CiInputs;
  /** --variant names, split and trimmed (empty: every configured variant). */
  readonly requested: readonly string[];
  readonly now: () => number;
  readonly t0: number;
  /** To the user's renderer and the artifacts' logs/ci.log. */
  readonly emit: EventSink;
  readonly stages: StageRecorder;
  /** Set by the environment step. */
  accel: Accel | null;
  /** Set by the pre-build step. */
  config?: LoadedConfig;
  plans: Array<Readonly<BuildPlan>>;
  /** vCPUs per VM with --jobs N and no --cpus. */
  sharedCpus?: number;
  /** One per variant, in --variant (or config) order. */
  records: Map<string, ImageRecord>;
  outcomes: Map<string, VariantRunOutcome>;
  readonly manifest: CiManifest;
  validation?: ValidationReport;
  reports?: ReportFiles;
}

/** The build flags with the vCPUs each VM gets. */
/**
 * The build flags of every variant's build. Release pipelines build in full: ci never starts from
 * a cached image (builder/incremental/), though its images are cached for later `build`s.
 */
export function buildFlagsOf(ctx: CiContext): CiOptions['buildFlags'] {
  const flags = { ...ctx.opts.buildFlags, incremental: false };
  return ctx.sharedCpus === undefined ? flags : { ...flags, cpus: ctx.sharedCpus };
}

/** The version stamped: the build plans', else the inputs'. */
export function versionOf(ctx: CiContext): string {
  return ctx.plans[0]?.version ?? ctx.inputs.version ?? 'unknown';
}

/**
 * Brings the manifest up to date (times, stages, images, ok). ok: every variant built and
 * validated, and no stage but the notification failed.
 */
export function finishManifest(ctx: CiContext): CiManifest {
  const m = ctx.manifest;
  const end = ctx.now();
  m.vexfs_version = versionOf(ctx);
  m.variants = ctx.plans.length ? ctx.plans.map((p) => p.variantName) : [...ctx.requested];
  m.accelerator = ctx.accel;
  m.images = [...ctx.records.values()];
  m.stages = ctx.stages.records;
  m.finished_at = new Date(end).toISOString();
  m.duration_ms = end - ctx.t0;
  m.ok = m.images.length > 0 && m.images.every((i) => i.status === 'passed') && m.stages.every((s) => s.name === 'notify' || s.status !== 'failed');
  return m;
}
