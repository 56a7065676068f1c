// `vexfs-image ci`: the spec's CI/CD pipeline. Stages: environment setup -> pre-build checks ->
// build + validate every variant (--jobs lanes, each variant built then validated) ->
// artifacts (images, checksums.sha256, build-manifest.json, logs) -> reports -> notification.
// The later stages run whatever happened before, so a failed run still leaves its evidence.
import { createWriteStream, type WriteStream } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig, resolveBuildPlan, type BuildFlags, type BuildPlan, type LoadedConfig } from '../config/load.js';
import { assertReady, type DoctorReport } from '../doctor.js';
import { UsageError } from '../errors.js';
import { defaultCacheDir, EXAMPLE_SOURCE, PACKAGE_VERSION } from '../paths.js';
import type { EventSink } from '../pipeline/events.js';
import { buildReport, stripControl, type ImageResult, type ValidationReport } from '../report/model.js';
import { assertVmBuildTarget } from '../builder/prepare.js';
import { plainLine } from '../ui/renderers.js';
import { formatDuration } from '../ui/format.js';
import { collectLogs, imageFiles, LAYOUT, prepareArtifactsDir, relPath } from './artifacts.js';
import { writeChecksums } from './checksums.js';
import { resolveCiInputs, selectVariants, type CiInputs } from './inputs.js';
import { CI_MANIFEST_SCHEMA, writeManifest, type CiManifest, type ImageRecord } from './manifest.js';
import { buildPayload, notify as defaultNotify } from './notify.js';
import { runPool } from './pool.js';
import { checkShellScripts, type ScriptCheckResult } from './prechecks.js';
import { writeReports, type ReportFiles } from './reports.js';
import { StageLog } from './stages.js';
import { newImageRecord, runVariant, type BuildFn, type ValidateFn, type VariantRunOutcome } from './variant-run.js';

/** Host tools build and validate need (build's own environment step checks again). */
export const CI_TOOLS = ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'];

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
  notifyUrl?: string;
  /** Cores to share between --jobs VMs (default: os.availableParallelism()). */
  hostCpus?: number;
  /** Recorded in the validation report's options. */
  validateTimeouts?: { bootTimeoutS: number; sshTimeoutS: number };
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal: AbortSignal;
  emit: EventSink;
}

export interface ValidateSetup {
  config: LoadedConfig;
  /** vCPUs per validation VM: --cpus, or the share of the host's cores with --jobs > 1. */
  cpus?: number;
  accel: string;
  artifactsDir: string;
  buildDir: string;
  noCleanup: boolean;
}

export interface CiDeps {
  doctor(opts: { cacheDir: string; signal: AbortSignal }): Promise<DoctorReport>;
  build: BuildFn;
  /** Makes the per-image validation function once the environment and config are known. */
  makeValidate(setup: ValidateSetup): ValidateFn;
  checkScripts?(opts: { signal: AbortSignal; logFile: string }): Promise<ScriptCheckResult>;
  notify?: typeof defaultNotify;
  gitHead?(dir: string): Promise<string | undefined>;
  now?(): number;
}

export interface CiResult {
  manifest: CiManifest;
  validation: ValidationReport;
  reports: ReportFiles | undefined;
  /** 0 every variant built and validated; 1 something failed; 2 bad input found by the pre-build checks. */
  exitCode: 0 | 1 | 2;
  artifactsDir: string;
}

const STAGE_COUNT = 7;

function openCiLog(file: string): { sink: EventSink; close(): Promise<void>; stream: WriteStream } {
  const stream = createWriteStream(file, { flags: 'a' });
  stream.on('error', () => undefined);
  return {
    stream,
    sink: (ev) => {
      const line = plainLine(ev);
      if (line !== undefined) stream.write(`${stripControl(line)}\n`);
    },
    close: () => new Promise((r) => stream.end(r)),
  };
}

/** A stand-in validation result for a variant that has no image to validate. */
function unbuiltResult(r: ImageRecord, path: string, accel: string): ImageResult {
  const message = r.status === 'cancelled' ? 'not validated: the run was cancelled before the image was built' : `not validated: the build failed: ${(r.build.error ?? '').split('\n')[0]}`;
  return {
    name: r.name,
    path,
    variant: r.variant,
    version: r.version,
    identitySource: 'unknown',
    status: 'error',
    accel,
    startedAt: r.build.started_at ?? new Date().toISOString(),
    timings: { sshReadyMs: null, cloudInitDoneMs: null, checksMs: null, totalMs: 0, steps: [] },
    cloudInit: null,
    // step 'unknown': the JUnit writer then reports the image's boot testcase as the error (no image, no boot).
    error: { kind: r.status === 'cancelled' ? 'interrupted' : 'build failed', step: 'unknown', message },
    checks: [],
    summary: { total: 0, passed: 0, failed: 0, warnings: 0, skipped: 0, errors: 0 },
  };
}

export async function runCi(opts: CiOptions, deps: CiDeps): Promise<CiResult> {
  const now = deps.now ?? Date.now;
  const t0 = now();
  const startedAt = new Date(t0);
  const root = opts.artifactsDir;
  const cacheDirHint = opts.buildFlags.cacheDir;

  // Bad input that needs no pipeline to find: exit 2 before anything is written.
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1) throw new UsageError(`invalid --jobs ${opts.jobs}: a whole number of at least 1`);
  // The commit: of the checkout CI runs in, else of the source tree being built.
  const gitDirs = [opts.cwd, opts.buildFlags.source ? resolve(opts.cwd, opts.buildFlags.source) : EXAMPLE_SOURCE];
  const inputs: CiInputs = await resolveCiInputs(opts.env, { version: opts.version, gitDirs, signal: opts.signal, gitHead: deps.gitHead });
  await prepareArtifactsDir(root, opts.force);

  const ciLog = openCiLog(join(root, LAYOUT.ciLog));
  const emit: EventSink = (ev) => {
    ciLog.sink(ev);
    opts.emit(ev);
  };
  emit({ type: 'run-start', title: `vexfs-image CI #${inputs.buildNumber}${inputs.commitSha ? ` (${inputs.commitSha.slice(0, 12)})` : ''}`, logDir: join(root, LAYOUT.logs) });
  emit({ type: 'info', message: `inputs: build ${inputs.buildNumber} (${inputs.buildNumberFrom}), commit ${inputs.commitSha ?? 'unknown'} (${inputs.commitShaFrom}), tag ${inputs.tag ?? 'none'}, version ${inputs.version ?? 'from config'}${inputs.versionFrom ? ` (${inputs.versionFrom})` : ''}` });

  const stages = new StageLog(emit, STAGE_COUNT, now);
  let accel: string | null = null;
  let config: LoadedConfig | undefined;
  let plans: Array<Readonly<BuildPlan>> = [];
  let prebuildUsageError = false;
  const requested = opts.variants.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);

  // 1. Environment setup.
  const env = await stages.run('environment', async () => {
    const cacheDir = cacheDirHint ? resolve(opts.cwd, cacheDirHint) : defaultCacheDir(opts.env);
    const report = await deps.doctor({ cacheDir, signal: opts.signal });
    assertReady(report, CI_TOOLS);
    accel = report.accelerator?.chosen ?? null;
    return `host tools present; accelerator ${accel ?? 'unknown'}${report.accelerator?.kvm.usable === false ? ' (KVM unusable)' : ''}`;
  });

  // With --jobs N and no --cpus, each VM gets its share of the host's cores: TCG with more
  // vCPU threads than free cores spends its time waiting for descheduled vCPUs.
  const sharedCpus = opts.buildFlags.cpus === undefined && opts.jobs > 1 ? Math.max(1, Math.floor((opts.hostCpus ?? availableParallelism()) / opts.jobs)) : undefined;
  const buildFlags = sharedCpus === undefined ? opts.buildFlags : { ...opts.buildFlags, cpus: sharedCpus };

  // 2. Pre-build checks: config, variants, source tree with vm-build, guest scripts.
  const pre = env.ok
    ? await stages.run('pre-build', async () => {
        config = loadConfig(opts.buildFlags, opts.cwd);
        const names = selectVariants(requested, Object.keys(config.variants));
        plans = names.map((variant) =>
          resolveBuildPlan({ ...buildFlags, variant, version: inputs.version, outputDir: join(root, LAYOUT.images) }, opts.env, opts.cwd),
        );
        assertVmBuildTarget(config.sourceDir, config.payload);
        const scripts = await (deps.checkScripts ?? checkShellScripts)({ signal: opts.signal, logFile: join(root, LAYOUT.logs, 'pre-build.log') });
        return `config ${config.configPath ?? 'built-in defaults'}; variants ${names.join(', ')}; source ${config.sourceDir} has vm-build; ${scripts.scripts} guest scripts pass bash -n, shellcheck ${scripts.shellcheck}`;
      })
    : (stages.skip('pre-build', 'environment setup failed'), { ok: false, error: undefined });
  if (!pre.ok && pre.error instanceof UsageError) prebuildUsageError = true;

  const version = plans[0]?.version ?? inputs.version ?? 'unknown';
  const variantNames = plans.length ? plans.map((p) => p.variantName) : requested;
  const records = new Map<string, ImageRecord>(variantNames.map((v) => [v, newImageRecord(v, version)]));
  const outcomes = new Map<string, VariantRunOutcome>();

  // 3 + 4. Build and validate, each variant in a lane: built, then validated right away.
  if (pre.ok && config) {
    const failFast = new AbortController();
    const signal = AbortSignal.any([opts.signal, failFast.signal]);
    const validate = deps.makeValidate({ config, accel: accel ?? 'tcg', artifactsDir: root, buildDir: plans[0]!.buildDir, noCleanup: opts.buildFlags.noCleanup ?? false, ...(buildFlags.cpus ? { cpus: buildFlags.cpus } : {}) });
    if (sharedCpus) emit({ type: 'info', message: `--jobs ${opts.jobs}: ${sharedCpus} vCPU(s) per VM (pass --cpus to choose)` });
    // One display row for both stages: they overlap (a variant is validated as soon as it is built).
    emit({ type: 'step-start', step: 'build', title: `Build and validate ${plans.length} variant(s), ${Math.min(opts.jobs, plans.length)} at a time`, index: stages.bump(), total: STAGE_COUNT });
    stages.bump();
    const poolStart = now();
    await runPool(
      plans,
      opts.jobs,
      async (plan) => {
        const record = records.get(plan.variantName)!;
        const outcome = await runVariant({
          plan,
          record,
          build: deps.build,
          validate,
          signal,
          emit,
          validateLogsDir: join(root, LAYOUT.logs, plan.variantName, 'validate'),
          now,
        });
        outcomes.set(plan.variantName, outcome);
        emit({ type: record.status === 'passed' ? 'info' : 'warn', message: `[${plan.variantName}] ${record.status}${record.status === 'passed' ? '' : `: ${(record.build.error ?? record.validation.error ?? '').split('\n')[0]}`}` });
        if (record.status !== 'passed' && record.status !== 'cancelled' && opts.failFast && !failFast.signal.aborted) {
          emit({ type: 'warn', message: `--fail-fast: ${plan.variantName} failed, stopping the other variants` });
          failFast.abort(new Error(`--fail-fast: ${plan.variantName} failed`));
        }
      },
      signal,
    );
    const all = [...records.values()];
    const spanOf = (phase: 'build' | 'validation'): { start: number | null; ms: number } => {
      const ranges = all
        .map((r) => r[phase])
        .filter((p) => p.started_at && p.duration_ms !== null)
        .map((p) => [Date.parse(p.started_at!), Date.parse(p.started_at!) + p.duration_ms!] as const);
      if (!ranges.length) return { start: null, ms: 0 };
      const start = Math.min(...ranges.map((r) => r[0]));
      return { start, ms: Math.max(...ranges.map((r) => r[1])) - start };
    };
    const b = spanOf('build');
    const built = all.filter((r) => r.build.status === 'ok').length;
    const buildTimes = all.filter((r) => r.build.duration_ms !== null).map((r) => `${r.variant} ${formatDuration(r.build.duration_ms!)}`);
    stages.records.push({
      name: 'build',
      title: 'Build images',
      status: built === all.length ? 'ok' : 'failed',
      started_at: b.start === null ? null : new Date(b.start).toISOString(),
      duration_ms: b.ms,
      detail: `${built}/${all.length} built, --jobs ${opts.jobs}${buildTimes.length ? ` (${buildTimes.join(', ')})` : ''}`,
    });
    const v = spanOf('validation');
    const tried = all.filter((r) => r.validation.status !== 'not-run');
    const passed = all.filter((r) => r.validation.status === 'passed').length;
    stages.records.push({
      name: 'validate',
      title: 'Validate images',
      status: tried.length === 0 ? 'skipped' : passed === all.length ? 'ok' : 'failed',
      started_at: v.start === null ? null : new Date(v.start).toISOString(),
      duration_ms: v.ms,
      detail: tried.length === 0 ? 'no image to validate' : `${passed}/${all.length} passed${tried.map((r) => (r.validation.summary ? `; ${r.variant} ${r.validation.summary.passed}/${r.validation.summary.total} checks` : `; ${r.variant} ${r.validation.status}`)).join('')}`,
    });
    const failed = all.filter((r) => r.status !== 'passed');
    if (failed.length === 0) emit({ type: 'step-end', step: 'build', ms: now() - poolStart });
    else emit({ type: 'step-fail', step: 'build', ms: now() - poolStart, error: new Error(`${failed.map((r) => `${r.variant} ${r.status}`).join(', ')}`) });
  } else {
    stages.skip('build', 'pre-build checks failed');
    stages.skip('validate', 'pre-build checks failed');
  }

  const manifest: CiManifest = {
    schema: CI_MANIFEST_SCHEMA,
    build_number: inputs.buildNumber,
    commit_sha: inputs.commitSha,
    vexfs_version: version,
    variants: variantNames,
    tag: inputs.tag,
    provider: inputs.provider,
    ok: false,
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    duration_ms: 0,
    jobs: opts.jobs,
    fail_fast: opts.failFast,
    accelerator: accel,
    tool: { name: 'vexfs-image', version: PACKAGE_VERSION },
    host: hostname(),
    stages: stages.records,
    images: [...records.values()],
  };
  // Every variant built and validated, and nothing but the notification failed.
  const everyVariantPassed = (): boolean =>
    manifest.images.length > 0 && manifest.images.every((i) => i.status === 'passed') && stages.records.every((s) => s.name === 'notify' || s.status !== 'failed');
  const finish = (): void => {
    const end = now();
    manifest.finished_at = new Date(end).toISOString();
    manifest.duration_ms = end - t0;
    manifest.ok = everyVariantPassed();
  };

  // 5. Artifacts: image files with digests, checksums.sha256, logs, build-manifest.json.
  await stages.run('artifacts', async () => {
    const imagesDir = join(root, LAYOUT.images);
    for (const r of manifest.images) {
      const o = outcomes.get(r.variant);
      r.files = await imageFiles(root, imagesDir, r.name, o?.build);
      const logs = join(root, LAYOUT.logs, r.variant);
      const copied = await collectLogs(o?.buildLogDir, join(logs, 'build'));
      r.logs = copied || r.validation.status !== 'not-run' ? relPath(root, logs) : null;
    }
    const entries = manifest.images.flatMap((r) => r.files.map((f) => ({ path: f.path, sha256: f.sha256 })));
    await writeChecksums(root, entries);
    finish();
    await writeManifest(root, manifest);
    const bytes = manifest.images.flatMap((r) => r.files).reduce((n, f) => n + f.size, 0);
    return `${entries.length} files (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${LAYOUT.images}/, ${LAYOUT.checksums}, ${LAYOUT.manifest}`;
  });

  // 6. Reports: the validation reports (JSON, JUnit, Markdown, HTML with the timeline) and the summary.
  const results: ImageResult[] = manifest.images.map((r) => outcomes.get(r.variant)?.validation ?? unbuiltResult(r, join(root, LAYOUT.images, `${r.name}.qcow2`), accel ?? 'unknown'));
  const validation = buildReport(results, {
    startedAt,
    finishedAt: new Date(now()),
    toolVersion: PACKAGE_VERSION,
    options: { bootTimeoutS: opts.validateTimeouts?.bootTimeoutS ?? 0, sshTimeoutS: opts.validateTimeouts?.sshTimeoutS ?? 0, jobs: opts.jobs, accel: accel ?? 'unknown' },
  });
  let reports: ReportFiles | undefined;
  await stages.run('report', async () => {
    finish();
    reports = await writeReports(root, validation, manifest);
    return `${Object.values(reports).length} reports in ${LAYOUT.reports}/`;
  });

  // 7. Notification: reported, never fatal.
  const url = opts.notifyUrl ?? opts.env.VEXFS_NOTIFY_URL;
  if (!url) stages.skip('notify', 'no --notify-url or VEXFS_NOTIFY_URL');
  else if (opts.signal.aborted) stages.skip('notify', 'interrupted');
  else {
    await stages.run('notify', async () => {
      finish();
      const rec = await (deps.notify ?? defaultNotify)(url, buildPayload(manifest, opts.env), {});
      manifest.notification = rec;
      if (!rec.ok) throw new Error(`POST ${rec.url} failed: ${rec.error} (does not change the pipeline result)`);
      return `POST ${rec.url}: HTTP ${rec.status}`;
    });
  }

  finish();
  await writeManifest(root, manifest).catch(() => undefined);
  if (reports) await writeReports(root, validation, manifest).catch(() => undefined);
  emit({ type: 'run-end', ok: manifest.ok, ms: manifest.duration_ms });
  await ciLog.close();
  const exitCode: 0 | 1 | 2 = manifest.ok ? 0 : prebuildUsageError ? 2 : 1;
  return { manifest, validation, reports, exitCode, artifactsDir: root };
}
