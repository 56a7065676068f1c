// One variant's way through the CI pipeline: build, then validate the image it produced.
// Records everything (status, errors, step spans) in an ImageRecord; never throws.
import { join } from 'node:path';
import type { BuildPlan } from '../config/load.js';
import { AbortedError, isAbort } from '../errors.js';
import type { EventSink, RunEvent } from '../pipeline/events.js';
import type { ImageResult } from '../report/model.js';
import type { BuildResult } from '../builder/index.js';
import { imageBaseName } from '../builder/context.js';
import { errorMessage } from '../ui/format.js';
import type { CompleteChoice, Hardware } from '../vm/profile.js';
import { recordKey, type ImageRecord, type TimelineSpan } from './manifest.js';
import { archFileStem, DEFAULT_ARCH, type Arch } from '../arch.js';

/** A plan's key among a run's records: the variant, with -arm64 for arm64 (as recordKey). */
export const planKey = (p: Pick<BuildPlan, 'variantName' | 'arch'>): string => archFileStem(p.variantName, p.arch);

export type BuildFn = (plan: Readonly<BuildPlan>, opts: { signal: AbortSignal; emit: EventSink }) => Promise<BuildResult>;

export interface ValidateTarget {
  path: string;
  variant: string;
  version: string;
  arch?: Arch;
}

/** One row of ci's validation matrix (--profile): the VM profile's choice and its report name. */
export interface MatrixProfile {
  label: string;
  choice: CompleteChoice;
  hardware: Hardware;
}

export type ValidateFn = (image: ValidateTarget, opts: { signal: AbortSignal; emit: EventSink; logsOutDir: string; profile?: MatrixProfile }) => Promise<ImageResult>;

export function newImageRecord(variant: string, version: string, arch: Arch = DEFAULT_ARCH): ImageRecord {
  return {
    variant,
    // amd64's records are as before (no field), so single-architecture manifests do not change.
    ...(arch === DEFAULT_ARCH ? {} : { architecture: arch }),
    name: imageBaseName(variant, version, arch),
    version,
    status: 'cancelled',
    build: { status: 'not-run', started_at: null, duration_ms: null },
    validation: { status: 'not-run', started_at: null, duration_ms: null },
    files: [],
    stage_durations_ms: { build: {}, validate: {} },
    timeline: [],
    logs: null,
  };
}

/**
 * Wraps the outer sink for one variant's run: records step spans for the timeline, and
 * forwards events with the variant in step ids and titles (parallel runs share one display).
 */
export function variantSink(variant: string, phase: TimelineSpan['phase'], outer: EventSink, spans: TimelineSpan[], now: () => number = Date.now): { sink: EventSink; logDir(): string | undefined } {
  let logDir: string | undefined;
  const local = (step: string): string => step.slice(step.lastIndexOf(':') + 1);
  const sink: EventSink = (ev: RunEvent) => {
    switch (ev.type) {
      case 'run-start':
        logDir = ev.logDir;
        outer({ type: 'info', message: `[${variant}] ${ev.title} (logs: ${ev.logDir})` });
        return;
      case 'run-end':
        return;
      case 'step-start':
        outer({ ...ev, step: `${variant}:${phase}:${local(ev.step)}`, title: `[${variant}] ${ev.title}` });
        return;
      case 'step-end':
      case 'step-fail': {
        const end = now();
        spans.push({ phase, step: local(ev.step), start: new Date(end - ev.ms).toISOString(), duration_ms: ev.ms, status: ev.type === 'step-end' ? 'ok' : 'failed' });
        outer({ ...ev, step: `${variant}:${phase}:${local(ev.step)}` });
        return;
      }
      case 'step-skip':
        spans.push({ phase, step: local(ev.step), start: new Date(now()).toISOString(), duration_ms: 0, status: 'skipped' });
        outer({ ...ev, step: `${variant}:${phase}:${local(ev.step)}` });
        return;
      case 'cleanup-error':
        outer({ ...ev, step: `${variant}:${phase}:${local(ev.step)}` });
        return;
      case 'info':
      case 'warn':
        outer({ ...ev, message: `[${variant}] ${ev.message}`, ...(ev.step ? { step: `${variant}:${phase}:${local(ev.step)}` } : {}) });
        return;
    }
  };
  return { sink, logDir: () => logDir };
}

export interface VariantRunOptions {
  plan: Readonly<BuildPlan>;
  record: ImageRecord;
  build: BuildFn;
  validate: ValidateFn;
  signal: AbortSignal;
  emit: EventSink;
  validateLogsDir: string;
  /** ci --profile: the image is validated under each (in order); none = once, the default profile. */
  profiles?: readonly MatrixProfile[];
  now?: () => number;
}

export interface VariantRunOutcome {
  build?: BuildResult;
  /** The validation (with a matrix: the first that did not pass, else the first). */
  validation?: ImageResult;
  /** With a matrix: every profile's result, in order (each a row in the reports). */
  validations?: ImageResult[];
  /** The build's log directory (known from its first event, also when it failed). */
  buildLogDir?: string;
}

/**
 * The error for the manifest and the summary: the failed step first, and a failed command's
 * long argument list shortened to its program (`ssh … did not finish within 143 s`).
 */
export function shortError(e: unknown, step?: string, n = 15): string {
  const lines = errorMessage(e).split('\n').slice(0, n);
  lines[0] = (lines[0] ?? '').replace(/^(\S+)\s.*?( did not finish within [\d.]+ s| exited with code \S+| was killed by \S+)/, '$1 …$2');
  return `${step ? `${step}: ` : ''}${lines.join('\n')}`;
}

function failedStep(spans: readonly TimelineSpan[], phase: TimelineSpan['phase']): string | undefined {
  return spans.filter((s) => s.phase === phase && s.status === 'failed').pop()?.step;
}

function sumSummaries(all: readonly ImageResult[]): ImageResult['summary'] {
  const s = { total: 0, passed: 0, failed: 0, warnings: 0, skipped: 0, errors: 0 };
  for (const x of all) for (const k of Object.keys(s) as Array<keyof typeof s>) s[k] += x.summary[k];
  return s;
}

/** Builds and validates one variant, filling in opts.record. Never throws. */
export async function runVariant(opts: VariantRunOptions): Promise<VariantRunOutcome> {
  const now = opts.now ?? Date.now;
  const r = opts.record;
  const out: VariantRunOutcome = {};
  const key = recordKey(r);
  const bs = variantSink(key, 'build', opts.emit, r.timeline, now);
  const t0 = now();
  r.build.started_at = new Date(t0).toISOString();
  try {
    out.build = await opts.build(opts.plan, { signal: opts.signal, emit: bs.sink });
    r.build.status = 'ok';
  } catch (e) {
    const cancelled = opts.signal.aborted || isAbort(e);
    r.build.status = cancelled ? 'cancelled' : 'failed';
    r.build.error = cancelled ? 'cancelled' : shortError(e, failedStep(r.timeline, 'build'));
    r.status = cancelled ? 'cancelled' : 'build-failed';
  } finally {
    r.build.duration_ms = now() - t0;
    out.buildLogDir = bs.logDir();
    for (const s of r.timeline) if (s.phase === 'build') r.stage_durations_ms.build[s.step] = s.duration_ms;
  }
  if (!out.build) return out;
  opts.emit({ type: 'info', message: `[${key}] built ${out.build.artifacts.image} in ${(r.build.duration_ms / 1000).toFixed(0)} s` });

  const vs = variantSink(key, 'validate', opts.emit, r.timeline, now);
  const t1 = now();
  r.validation.started_at = new Date(t1).toISOString();
  try {
    if (opts.signal.aborted) throw new AbortedError();
    const target = { path: out.build.artifacts.image, variant: r.variant, version: r.version, arch: r.architecture ?? DEFAULT_ARCH };
    const all: ImageResult[] = [];
    if (opts.profiles?.length) {
      for (const profile of opts.profiles) {
        if (opts.signal.aborted) throw new AbortedError();
        all.push(await opts.validate(target, { signal: opts.signal, emit: vs.sink, logsOutDir: join(opts.validateLogsDir, profile.label), profile }));
      }
      out.validations = all;
    } else {
      all.push(await opts.validate(target, { signal: opts.signal, emit: vs.sink, logsOutDir: opts.validateLogsDir }));
    }
    const v = all.find((x) => x.status !== 'passed') ?? all[0]!;
    out.validation = v;
    r.validation.status = v.status;
    r.validation.summary = all.length === 1 ? v.summary : sumSummaries(all);
    const where = v.profile ? ` [${v.profile}]` : '';
    if (v.error) r.validation.error = `${v.error.kind} (${v.error.step})${where}: ${v.error.message}`.split('\n')[0];
    else if (v.status === 'failed') {
      const bad = v.checks.filter((c) => c.severity === 'error' && (c.status === 'failed' || c.status === 'error'));
      r.validation.error = `${bad.length} check(s) failed${where}: ${bad.map((c) => `${c.id} (${c.message.split('\n')[0]})`).join('; ')}`.slice(0, 500);
    }
    r.status = v.status === 'passed' ? 'passed' : 'validation-failed';
  } catch (e) {
    const cancelled = opts.signal.aborted || isAbort(e);
    r.validation.status = cancelled ? 'cancelled' : 'error';
    r.validation.error = cancelled ? 'cancelled' : shortError(e, failedStep(r.timeline, 'validate'));
    r.status = cancelled ? 'cancelled' : 'validation-failed';
  } finally {
    r.validation.duration_ms = now() - t1;
    for (const s of r.timeline) if (s.phase === 'validate') r.stage_durations_ms.validate[s.step] = s.duration_ms;
  }
  return out;
}
