// `vexfs-image ci`: the spec's CI/CD pipeline as one literal list of steps on the runner:
// environment setup -> pre-build checks -> build + validate every variant (--jobs lanes) ->
// artifacts (images, checksums.sha256, build-manifest.json, logs) -> reports -> notification.
// The runner keeps going after a failed stage, so a failed run still leaves its evidence.
import { createWriteStream } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { EXAMPLE_SOURCE, PACKAGE_VERSION } from '../paths.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { stripControl, type ValidationReport } from '../report/model.js';
import { plainLine } from '../ui/renderers.js';
import { LAYOUT, prepareArtifactsDir } from './artifacts.js';
import { finishManifest, type CiContext, type CiDeps, type CiOptions } from './context.js';
import { resolveCiInputs } from './inputs.js';
import { CI_MANIFEST_SCHEMA, writeManifest, type CiManifest, type ImageRecord } from './manifest.js';
import { writeReports, type ReportFiles } from './reports.js';
import { StageRecorder } from './stages.js';
import { artifactsStep } from './steps/artifacts.js';
import { buildStep } from './steps/build.js';
import { environmentStep } from './steps/environment.js';
import { notifyStep } from './steps/notify.js';
import { preBuildStep } from './steps/pre-build.js';
import { reportStep, validationReport } from './steps/report.js';
import { newImageRecord } from './variant-run.js';

export type { CiDeps, CiOptions, ValidateSetup } from './context.js';

export const CI_STEPS: ReadonlyArray<Step<CiContext>> = [environmentStep, preBuildStep, buildStep, artifactsStep, reportStep, notifyStep];

/** passed: every variant built and validated; failed: something did not; bad-input: the pre-build checks refused the input. */
export type CiStatus = 'passed' | 'failed' | 'bad-input';

export interface CiResult {
  status: CiStatus;
  manifest: CiManifest;
  validation: ValidationReport;
  reports: ReportFiles | undefined;
  artifactsDir: string;
}

function openCiLog(file: string): { sink: EventSink; close(): Promise<void> } {
  const stream = createWriteStream(file, { flags: 'a' });
  stream.on('error', () => undefined);
  return {
    sink: (ev) => {
      const line = plainLine(ev);
      if (line !== undefined) stream.write(`${stripControl(line)}\n`);
    },
    close: () => new Promise((r) => stream.end(r)),
  };
}

export async function runCi(opts: CiOptions, deps: CiDeps): Promise<CiResult> {
  const now = deps.now ?? Date.now;
  const t0 = now();
  const root = opts.artifactsDir;

  // Bad input that needs no pipeline to find: refused before anything is written.
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1) throw new UsageError(`invalid --jobs ${opts.jobs}: a whole number of at least 1`);
  // The commit: of the checkout CI runs in, else of the source tree being built.
  const gitDirs = [opts.cwd, opts.buildFlags.source ? resolve(opts.cwd, opts.buildFlags.source) : EXAMPLE_SOURCE];
  const inputs = await resolveCiInputs(opts.env, { version: opts.version, gitDirs, signal: opts.signal, gitHead: deps.gitHead });
  await prepareArtifactsDir(root, opts.force);

  const ciLog = openCiLog(join(root, LAYOUT.ciLog));
  const emit: EventSink = (ev) => {
    ciLog.sink(ev);
    opts.emit(ev);
  };
  emit({ type: 'run-start', title: `vexfs-image CI #${inputs.buildNumber}${inputs.commitSha ? ` (${inputs.commitSha.slice(0, 12)})` : ''}`, logDir: join(root, LAYOUT.logs) });
  emit({ type: 'info', message: `inputs: build ${inputs.buildNumber} (${inputs.buildNumberFrom}), commit ${inputs.commitSha ?? 'unknown'} (${inputs.commitShaFrom}), tag ${inputs.tag ?? 'none'}, version ${inputs.version ?? 'from config'}${inputs.versionFrom ? ` (${inputs.versionFrom})` : ''}` });

  const requested = opts.variants.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
  const version = inputs.version ?? 'unknown';
  const records = new Map<string, ImageRecord>(requested.map((v) => [v, newImageRecord(v, version)]));
  const startedAt = new Date(t0).toISOString();
  const ctx: CiContext = {
    opts,
    deps,
    root,
    inputs,
    requested,
    now,
    t0,
    emit,
    stages: new StageRecorder(now),
    accel: null,
    plans: [],
    // With --jobs N and no --cpus, each VM gets its share of the host's cores: TCG with more
    // vCPU threads than free cores spends its time waiting for descheduled vCPUs.
    sharedCpus: opts.buildFlags.cpus === undefined && opts.jobs > 1 ? Math.max(1, Math.floor((opts.hostCpus ?? availableParallelism()) / opts.jobs)) : undefined,
    records,
    outcomes: new Map(),
    manifest: {
      schema: CI_MANIFEST_SCHEMA,
      build_number: inputs.buildNumber,
      commit_sha: inputs.commitSha,
      vexfs_version: version,
      variants: requested,
      tag: inputs.tag,
      provider: inputs.provider,
      ok: false,
      started_at: startedAt,
      finished_at: startedAt,
      duration_ms: 0,
      jobs: opts.jobs,
      fail_fast: opts.failFast,
      accelerator: null,
      tool: { name: 'vexfs-image', version: PACKAGE_VERSION },
      host: hostname(),
      stages: [],
      images: [],
    },
  };

  // The stages run to the end even after Ctrl-C, so that the manifest and reports record the
  // interrupted run: the runner gets a signal of its own, and the steps that start work (the
  // variants' builds, the notification) take the run's from ctx.opts.
  const timings = await runSteps(CI_STEPS, ctx, {
    signal: new AbortController().signal,
    logDir: join(root, LAYOUT.logs),
    emit: (ev) => {
      ctx.stages.observe(ev);
      emit(ev);
    },
    keepGoing: true,
  });

  const manifest = finishManifest(ctx);
  await writeManifest(root, manifest).catch(() => undefined);
  const validation = ctx.validation ?? validationReport(ctx);
  // Written again: the notification's outcome is now known.
  if (ctx.reports) await writeReports(root, validation, manifest).catch(() => undefined);
  emit({ type: 'run-end', ok: manifest.ok, ms: manifest.duration_ms });
  await ciLog.close();
  const badInput = timings.some((t) => t.step === 'pre-build' && t.error instanceof UsageError);
  return { status: manifest.ok ? 'passed' : badInput ? 'bad-input' : 'failed', manifest, validation, reports: ctx.reports, artifactsDir: root };
}
