// The library API: one function per command, typed options (all but the essentials optional,
// with the CLI's defaults) and typed results. Results say what happened (ok, status, counts);
// exit codes are the CLI's business (src/cli/exit-codes.ts). Bad input throws UsageError before
// anything is written or started; other failures throw the classes of src/errors.ts.
import { resolve } from 'node:path';
import { DEFAULT_DISTRO, resolveBase, type ResolvedBase, type ResolveBaseOptions } from './base/index.js';
import { buildImage, type BuildResult } from './builder/index.js';
import { DEFAULT_JOBS, realDeps, type ValidateTuning } from './ci/defaults.js';
import { mergeShards, type MergeOptions, type MergeResult } from './ci/merge.js';
import { runCi, type CiOptions, type CiResult } from './ci/orchestrator.js';
import { resolveBuildPlan, type BuildFlags } from './config/load.js';
import { doctor as probeHost, type DoctorReport } from './doctor.js';
import { aptInstall } from './tools/apt.js';
import { JOB_TOOLS } from './tools/host-tools.js';
import { resolveVmProfile, type ProfileRequest } from './vm/profile.js';
import { defaultCacheDir } from './paths.js';
import { identifyImage } from './validate/discover.js';
import { ARCHES, type Arch } from './arch.js';
import { silentSink, type EventSink } from './pipeline/events.js';
import { instanceSshArgs, selectInstance } from './run/connect.js';
import { RUN_DEFAULTS, runInstance, type RunInstanceOptions, type RunOutcome } from './run/instance.js';
import { checkInstanceName, checkUserName, DEFAULT_RUN_USER, instanceNameFor } from './run/names.js';
import { assertNameFree, instancesRoot, listInstances, type InstanceEntry } from './run/state.js';
import { runAttached } from './tools/exec.js';
import { QUICK_DEFAULTS, quickTest as runQuickTest, type QuickTestResult } from './quick/index.js';
import type { ReportFormat } from './report/write.js';
import { resolveImagePaths } from './validate/discover.js';
import { VALIDATE_DEFAULTS, validateImages, type ValidateOptions, type ValidateOutcome } from './validate/index.js';

export type { QuickTestResult };
export type { BuildFlags, BuildResult, CiResult, DoctorReport, EventSink, InstanceEntry, MergeResult, ResolvedBase, RunOutcome, ValidateOptions, ValidateOutcome };
export type { CiStatus } from './ci/orchestrator.js';
export type { CiManifest } from './ci/manifest.js';
export type { RunEvent } from './pipeline/events.js';
export type { ValidationReport } from './report/model.js';
export { AbortedError, CommandError, GuestError, PreconditionError, TimeoutError, UsageError, VexfsImageError } from './errors.js';

/** What every job takes: an abort signal, a sink for progress events, the environment and cwd. */
export interface JobOptions {
  signal?: AbortSignal;
  emit?: EventSink;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const signalOf = (o: JobOptions): AbortSignal => o.signal ?? new AbortController().signal;

export interface BuildOptions extends BuildFlags, JobOptions {}

/** `vexfs-image build`: one image of one variant (flags > env IMAGE_VARIANT/VEXFS_VERSION > vexfs-image.yaml > defaults). */
export async function build(o: BuildOptions = {}): Promise<BuildResult> {
  const plan = resolveBuildPlan(o, o.env ?? process.env, o.cwd ?? process.cwd());
  return buildImage(plan, { signal: signalOf(o), emit: o.emit ?? silentSink });
}

export interface QuickTestApiOptions extends BuildFlags, JobOptions {
  /** An image to take the kernel and headers from (default: the build's base for the variant, minimal). */
  image?: string;
  reportDir?: string;
  /** Report formats (not BuildFlags' image formats, which the quick test never writes). */
  reportFormats?: ReportFormat[];
  timeoutS?: number;
  busybox?: string;
}

/** `vexfs-image test`: the quick module test (src/quick/); `ok` false when a check failed. */
export async function quickTest(o: QuickTestApiOptions = {}): Promise<QuickTestResult> {
  const cwd = o.cwd ?? process.cwd();
  const plan = resolveBuildPlan({ ...o, variant: o.variant ?? 'minimal' }, o.env ?? process.env, cwd);
  return runQuickTest({
    plan,
    ...(o.image ? { image: resolve(cwd, o.image) } : {}),
    reportDir: resolve(cwd, o.reportDir ?? QUICK_DEFAULTS.reportDir),
    formats: o.reportFormats ?? ['json', 'junit'],
    timeoutS: o.timeoutS ?? QUICK_DEFAULTS.timeoutS,
    ...(o.busybox ? { busybox: o.busybox } : {}),
    signal: signalOf(o),
    emit: o.emit ?? silentSink,
  });
}

/** `vexfs-image validate`: the VM profile is resolved here unless opts.profile gives one. */
export async function validate(o: ValidateOptions = {}): Promise<ValidateOutcome> {
  return validateImages(o);
}

export interface CiApiOptions extends Partial<Omit<CiOptions, 'validateTimeouts' | 'signal' | 'emit' | 'env' | 'cwd'>>, JobOptions {
  /** Validation: seconds to SSH-ready, seconds per guest command. */
  bootTimeoutS?: number;
  sshTimeoutS?: number;
}

/** Validation's timeouts on top of its defaults. */
const ciTuning = (o: CiApiOptions): ValidateTuning => ({ ...VALIDATE_DEFAULTS, ...(o.bootTimeoutS ? { bootTimeoutS: o.bootTimeoutS } : {}), ...(o.sshTimeoutS ? { sshTimeoutS: o.sshTimeoutS } : {}) });

/** The orchestrator's options from the API's (defaults filled in; every axis of the matrix kept). */
export function ciOptions(o: CiApiOptions = {}): CiOptions {
  const cwd = o.cwd ?? process.cwd();
  return {
    variants: o.variants ?? [],
    jobs: o.jobs ?? DEFAULT_JOBS,
    failFast: o.failFast ?? false,
    artifactsDir: resolve(cwd, o.artifactsDir ?? 'artifacts'),
    force: o.force ?? false,
    buildFlags: o.buildFlags ?? {},
    version: o.version,
    notifyUrl: o.notifyUrl,
    hostCpus: o.hostCpus,
    validateTimeouts: ciTuning(o),
    ...(o.profiles?.length ? { profiles: o.profiles } : {}),
    ...(o.arches?.length ? { arches: o.arches } : {}),
    env: o.env ?? process.env,
    cwd,
    signal: signalOf(o),
    emit: o.emit ?? silentSink,
  };
}

/** `vexfs-image ci`: every variant built and validated, the artifacts directory, the notification. */
export async function ci(o: CiApiOptions = {}): Promise<CiResult> {
  return runCi(ciOptions(o), realDeps(ciTuning(o)));
}

export interface MergeApiOptions extends Partial<Omit<MergeOptions, 'shards' | 'env' | 'cwd' | 'signal' | 'emit'>>, JobOptions {
  shards: readonly string[];
}

/** `vexfs-image ci merge`: the artifacts directories of a CI matrix combined into one. */
export async function mergeCi(o: MergeApiOptions): Promise<MergeResult> {
  return mergeShards({ ...o, artifactsDir: o.artifactsDir ?? 'artifacts', force: o.force ?? false, verify: o.verify ?? true, env: o.env ?? process.env, cwd: o.cwd ?? process.cwd(), signal: signalOf(o), emit: o.emit ?? silentSink });
}

export interface BaseOptions extends Partial<ResolveBaseOptions> {
  /** debian-13 (default), debian-12, ubuntu-24.04, ubuntu-22.04, a path or a URL. */
  distro?: string;
}

/** `vexfs-image base`: the base image, built, downloaded or inspected, and cached. */
export async function base(o: BaseOptions = {}): Promise<ResolvedBase> {
  return resolveBase(o.distro ?? DEFAULT_DISTRO, { ...o, cacheDir: o.cacheDir ?? defaultCacheDir(o.env) });
}

export interface ResolvedRun {
  image: string;
  name: string;
  user: string;
  cacheDir: string;
}

/** The image path, instance name and user of a run, checked before anything starts. */
export function resolveRun(image: string, o: { name?: string; imagesDir: string; user: string }, env: NodeJS.ProcessEnv, cwd = process.cwd()): ResolvedRun {
  const name = o.name !== undefined ? checkInstanceName(o.name) : undefined;
  const user = checkUserName(o.user);
  const [path] = resolveImagePaths([image], o.imagesDir, cwd);
  return { image: path!, name: name ?? instanceNameFor(path!), user, cacheDir: defaultCacheDir(env) };
}

export interface RunOptions extends Partial<Omit<RunInstanceOptions, 'image' | 'name' | 'user' | 'profile' | 'signal' | 'onReady'>> {
  memoryMb?: number;
  cpus?: number;
  /** Firmware and boot disk bus (default bios, virtio-blk; arm64: uefi). */
  hardware?: ProfileRequest['hardware'];
  /** The image's architecture when its sidecar .json and name do not say (default amd64). */
  arch?: Arch;
  /** An image file, or a name in imagesDir. */
  image: string;
  name?: string;
  imagesDir?: string;
  user?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  signal?: AbortSignal;
  onReady: RunInstanceOptions['onReady'];
}

/** `vexfs-image run`: boots the image on a throw-away overlay; resolves when the guest powers off or the signal aborts. */
export async function run(o: RunOptions): Promise<RunOutcome> {
  const env = o.env ?? process.env;
  const r = resolveRun(o.image, { name: o.name, imagesDir: o.imagesDir ?? VALIDATE_DEFAULTS.imagesDir, user: o.user ?? DEFAULT_RUN_USER }, env, o.cwd);
  const cacheDir = o.cacheDir ?? r.cacheDir;
  await assertNameFree(instancesRoot(cacheDir), r.name);
  const signal = signalOf(o);
  // The image says what it is (sidecar .json, or a -arm64 name); --arch for one that does not.
  const arch = identifyImage(r.image, o.arch ? { arch: o.arch } : {}).arch;
  const { profile } = await resolveVmProfile({
    memoryMb: o.memoryMb ?? RUN_DEFAULTS.memoryMb,
    cpus: o.cpus ?? RUN_DEFAULTS.cpus,
    cacheDir,
    hardware: { ...o.hardware, arch },
    env,
    tools: JOB_TOOLS.run,
    signal,
  });
  return runInstance({
    ...r,
    cacheDir,
    profile,
    network: o.network ?? false,
    bootTimeoutS: o.bootTimeoutS ?? RUN_DEFAULTS.bootTimeoutS,
    sshTimeoutS: o.sshTimeoutS ?? RUN_DEFAULTS.sshTimeoutS,
    shutdownTimeoutS: o.shutdownTimeoutS ?? RUN_DEFAULTS.shutdownTimeoutS,
    noCleanup: o.noCleanup ?? false,
    signal,
    onInfo: o.onInfo,
    onWarn: o.onWarn,
    onReady: o.onReady,
  });
}

/** The instances started by run (running or stale) under the cache directory. */
export async function instances(o: { cacheDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<InstanceEntry[]> {
  return listInstances(instancesRoot(o.cacheDir ?? defaultCacheDir(o.env)));
}

export interface SshOptions {
  /** Default: the only running instance. */
  name?: string;
  /** Default: a login shell. One word is a remote shell command line; several are quoted each. */
  command?: readonly string[];
  tty?: boolean;
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** The system ssh into a running instance, on this process's terminal; resolves with ssh's status. */
export async function ssh(o: SshOptions = {}): Promise<{ exitCode: number | null; signal: string | null }> {
  if (o.name !== undefined) checkInstanceName(o.name, 'NAME');
  const entry = selectInstance(o.name, await instances(o));
  return runAttached('ssh', instanceSshArgs(entry.state, o.command ?? [], { tty: o.tty }), { signal: o.signal });
}

export interface DoctorOptions {
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Ignore the cached accelerator probe. */
  refresh?: boolean;
  /** Install missing Debian packages with apt-get (as root; otherwise onInfo says the command). */
  install?: boolean;
  /** Guest architectures to report on, each with its probe guest (default: all). */
  arches?: readonly Arch[];
  signal?: AbortSignal;
  onInfo?(message: string): void;
}

/** `vexfs-image doctor`: the host tools and which accelerator really works. */
export async function doctor(o: DoctorOptions = {}): Promise<DoctorReport> {
  const cacheDir = o.cacheDir ?? defaultCacheDir(o.env);
  const arches = o.arches ?? ARCHES;
  const report = await probeHost({ cacheDir, refresh: o.refresh, signal: o.signal, arches });
  if (!o.install || !report.missingPackages.length) return report;
  if (process.getuid?.() !== 0) {
    o.onInfo?.(`not root: run this instead:\n  sudo ${report.installCommand}`);
    return report;
  }
  o.onInfo?.(`installing: ${report.missingPackages.join(' ')}`);
  await aptInstall(report.missingPackages, { signal: o.signal });
  return probeHost({ cacheDir, refresh: o.refresh, signal: o.signal, arches });
}
