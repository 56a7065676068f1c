// The library API of `vexfs-image validate`: find the images, check the host, validate each
// image (up to `jobs` at a time), build the report and write it in the requested formats.
import { join, resolve } from 'node:path';
import type { CheckDef } from '../config/schema.js';
import { AbortedError } from '../errors.js';
import { defaultCacheDir, PACKAGE_VERSION } from '../paths.js';
import type { EventSink } from '../pipeline/events.js';
import { runPool } from '../pipeline/pool.js';
import { buildReport, type CheckResult, type ImageResult, type ValidationReport } from '../report/model.js';
import { REPORT_FORMATS, writeReports, type ReportFormat } from '../report/write.js';
import { JOB_TOOLS } from '../tools/host-tools.js';
import { checkImageChain } from '../tools/qemu-img.js';
import { completeChoice, profileFor, profileLabel, resolveHardware, resolveVmProfile, VM_DEFAULTS, type ProfileChoice, type VmProfile } from '../vm/profile.js';
import { loadBuiltinChecks, mergeChecks } from './checks.js';
import { identifyImage, resolveImagePaths, type ImageTarget } from './discover.js';
import { DEFAULT_ARCH, type Arch } from '../arch.js';
import { validateImage } from './image.js';
import { profileForImage } from './secure-boot.js';

export const VALIDATE_DEFAULTS = Object.freeze({
  ...VM_DEFAULTS,
  imagesDir: 'images',
  jobs: 1,
  reportDir: 'validation-report',
});


export interface ValidateOptions {
  /** Image paths or names (looked up in imagesDir); none = every *.qcow2 in imagesDir. */
  images?: readonly string[];
  imagesDir?: string;
  bootTimeoutS?: number;
  sshTimeoutS?: number;
  noCleanup?: boolean;
  jobs?: number;
  /** Where the reports go; undefined together with formats [] = write nothing. */
  reportDir?: string;
  formats?: readonly ReportFormat[];
  /** Replaces the built-in check list (e.g. from --checks FILE). */
  checks?: readonly CheckDef[];
  /** The user's checks from vexfs-image.yaml: merged into the list (same id replaces). */
  userChecks?: readonly CheckDef[];
  /** Overrides for images whose manifest and name do not say. */
  variant?: string;
  version?: string;
  /** The architecture of images whose sidecar .json and name do not say (default amd64). */
  arch?: Arch;
  /** The VM profile (resolved from memoryMb and cpus when not given). */
  profile?: VmProfile;
  memoryMb?: number;
  cpus?: number;
  /**
   * The validation matrix (--profile): each image is validated under each, one report row per
   * pair named by the profile. Not given: one row per image under the default profile.
   */
  profiles?: readonly ProfileChoice[];
  env?: NodeJS.ProcessEnv;
  /** Hash each image before and after; fail it if it changed or differs from its manifest. */
  checksum?: boolean;
  cleanShutdown?: boolean;
  /** Give the guests the host's network (default: none beyond the SSH forward). */
  network?: boolean;
  workDir?: string;
  cacheDir?: string;
  cwd?: string;
  /** Append the Markdown summary here (the CLI passes $GITHUB_STEP_SUMMARY). */
  githubStepSummary?: string;
  signal?: AbortSignal;
  emit?: EventSink;
  onImageStart?(image: ImageTarget): void;
  onImageEnd?(result: ImageResult): void;
  onCheck?(image: ImageTarget, result: CheckResult): void;
}

export interface ValidateOutcome {
  report: ValidationReport;
  /** format -> path of each report written. */
  files: Record<string, string>;
  /** Every image passed (the same as report.ok). */
  ok: boolean;
}

/** The check list for a run: built-in (or a replacement) merged with the user's. */
export function resolveCheckList(opts: Pick<ValidateOptions, 'checks' | 'userChecks'>): CheckDef[] {
  return mergeChecks(opts.checks ?? loadBuiltinChecks(), opts.userChecks ?? []);
}

export async function validateImages(opts: ValidateOptions = {}): Promise<ValidateOutcome> {
  const startedAt = new Date();
  const cwd = opts.cwd ?? process.cwd();
  const signal = opts.signal ?? new AbortController().signal;
  const emit = opts.emit ?? (() => undefined);
  const imagesDir = resolve(cwd, opts.imagesDir ?? VALIDATE_DEFAULTS.imagesDir);
  const bootTimeoutS = opts.bootTimeoutS ?? VALIDATE_DEFAULTS.bootTimeoutS;
  const sshTimeoutS = opts.sshTimeoutS ?? VALIDATE_DEFAULTS.sshTimeoutS;
  const jobs = opts.jobs ?? VALIDATE_DEFAULTS.jobs;

  // Everything that can be wrong with the input is found before any VM starts.
  const paths = resolveImagePaths(opts.images ?? [], imagesDir, cwd);
  const targets = paths.map((p) => identifyImage(p, { variant: opts.variant, version: opts.version, ...(opts.arch ? { arch: opts.arch } : {}) }));
  const checks = resolveCheckList(opts);
  // Each image boots as its own architecture (its sidecar .json or file name says which): its
  // emulator and firmware judged before any tool runs (exit 2 naming the Debian packages).
  const arches = [...new Set(targets.map((t) => t.arch))];
  const archHw = new Map(arches.map((a) => [a, resolveHardware({ arch: a }, opts.env)]));
  // Backing chains judged before any VM starts: nothing outside the image's directory or the cache.
  for (const t of targets) await checkImageChain(t.path, { cacheDir: opts.cacheDir ?? defaultCacheDir() }, { signal });

  const memoryMb = opts.memoryMb ?? VALIDATE_DEFAULTS.memoryMb;
  const cpus = opts.cpus ?? VALIDATE_DEFAULTS.cpus;
  // The matrix judged (memory, firmware on the host, per architecture) before the accelerator is probed.
  const matrix = (opts.profiles ?? []).map((c) => {
    const full = completeChoice(c, { memoryMb, cpus });
    return { choice: full, hardware: new Map(arches.map((a) => [a, resolveHardware({ ...full, arch: a }, opts.env)])) };
  });
  // The probe only matters for an architecture KVM could run; all-arm64 asks for none.
  const probeArch = arches.includes(DEFAULT_ARCH) || arches.length === 0 ? DEFAULT_ARCH : arches[0]!;
  const profile =
    opts.profile ??
    (
      await resolveVmProfile({
        memoryMb,
        cpus,
        cacheDir: opts.cacheDir ?? defaultCacheDir(),
        tools: JOB_TOOLS.validate,
        hardware: { arch: probeArch },
        signal,
        ...(opts.env ? { env: opts.env } : {}),
      })
    ).profile;
  const accel = profile.accel;
  // The default profile, or the same machine for another architecture's image.
  const rowDefault = (target: ImageTarget): VmProfile =>
    target.arch === profile.arch ? profile : profileFor(accel, profile.memoryMb, profile.cpus, opts.env, archHw.get(target.arch)!);
  const rows: Array<{ target: ImageTarget; profile: VmProfile; label?: string }> = matrix.length
    ? targets.flatMap((target) =>
        matrix.map(({ choice, hardware }) => {
          const p = profileFor(accel, choice.memoryMb, choice.cpus, opts.env, hardware.get(target.arch)!);
          // secureboot: the image's certificate to enrol, found now (exit 2 before any VM).
          return { target, profile: profileForImage(p, target), label: profileLabel(p) };
        }),
      )
    : targets.map((target) => ({ target, profile: rowDefault(target) }));
  const accels = [...new Set(rows.map((r) => r.profile.accel))].join('+');

  const reportDir = opts.reportDir !== undefined ? resolve(cwd, opts.reportDir) : undefined;
  const what = matrix.length ? `${targets.length} image(s) x ${matrix.length} profile(s)` : `${targets.length} image(s)`;
  emit({ type: 'run-start', title: `Validating ${what} with ${accels.toUpperCase()}`, logDir: reportDir ?? '(no reports)' });
  const started = await runPool(rows, jobs, async ({ target, profile: rowProfile, label }) => {
    opts.onImageStart?.(target);
    const r = await validateImage(target, {
      checks,
      bootTimeoutS,
      sshTimeoutS,
      profile: rowProfile,
      ...(label ? { profileLabel: label } : {}),
      cacheDir: opts.cacheDir ?? defaultCacheDir(),
      workDir: opts.workDir,
      noCleanup: opts.noCleanup ?? false,
      checksum: opts.checksum ?? false,
      cleanShutdown: opts.cleanShutdown,
      network: opts.network,
      logsOutDir: reportDir ? join(reportDir, 'logs', label ? `${target.name}.${label}` : target.name) : undefined,
      signal,
      emit,
      onCheck: opts.onCheck,
    });
    opts.onImageEnd?.(r);
    return r;
  }, signal);
  // The pool stops taking images once aborted: an image never started means no report.
  const results = started.filter((r) => r !== undefined);
  if (results.length < rows.length) throw new AbortedError();

  const report = buildReport(results, {
    startedAt,
    finishedAt: new Date(),
    toolVersion: PACKAGE_VERSION,
    options: { bootTimeoutS, sshTimeoutS, jobs, accel },
  });
  const formats = reportDir ? (opts.formats ?? REPORT_FORMATS) : [];
  const files =
    formats.length || opts.githubStepSummary
      ? await writeReports(report, { dir: reportDir ?? cwd, formats, githubStepSummary: opts.githubStepSummary })
      : {};
  emit({ type: 'run-end', ok: report.ok, ms: report.durationMs });
  return { report, files, ok: report.ok };
}

export type { ImageTarget } from './discover.js';
