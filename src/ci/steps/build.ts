// CI stages 3 and 4: every variant built and then validated at once, in --jobs lanes. A failed
// variant does not stop the others (unless --fail-fast); the step fails naming every failed
// variant, and the runner's keep-going mode goes on to the artifacts and reports. Both stages
// are recorded from the variants' spans: they overlap.
import { join } from 'node:path';
import { runPool } from '../../pipeline/pool.js';
import type { Step } from '../../pipeline/step.js';
import { formatDuration } from '../../ui/format.js';
import { LAYOUT } from '../artifacts.js';
import { buildFlagsOf, type CiContext } from '../context.js';
import type { ImageRecord } from '../manifest.js';
import { planKey, runVariant } from '../variant-run.js';
import { recordKey } from '../manifest.js';

/** The wall-clock span of one phase over every variant. */
function spanOf(records: readonly ImageRecord[], phase: 'build' | 'validation'): { start: string | null; ms: number } {
  const ranges = records
    .map((r) => r[phase])
    .filter((p) => p.started_at && p.duration_ms !== null)
    .map((p) => [Date.parse(p.started_at!), Date.parse(p.started_at!) + p.duration_ms!] as const);
  if (!ranges.length) return { start: null, ms: 0 };
  const start = Math.min(...ranges.map((r) => r[0]));
  return { start: new Date(start).toISOString(), ms: Math.max(...ranges.map((r) => r[1])) - start };
}

function recordStages(ctx: CiContext): void {
  const all = [...ctx.records.values()];
  const b = spanOf(all, 'build');
  const built = all.filter((r) => r.build.status === 'ok').length;
  const buildTimes = all.filter((r) => r.build.duration_ms !== null).map((r) => `${recordKey(r)} ${formatDuration(r.build.duration_ms!)}`);
  ctx.stages.describe('build', {
    status: built === all.length ? 'ok' : 'failed',
    started_at: b.start,
    duration_ms: b.ms,
    detail: `${built}/${all.length} built, --jobs ${ctx.opts.jobs}${buildTimes.length ? ` (${buildTimes.join(', ')})` : ''}`,
  });
  const v = spanOf(all, 'validation');
  const tried = all.filter((r) => r.validation.status !== 'not-run');
  const passed = all.filter((r) => r.validation.status === 'passed').length;
  ctx.stages.add({
    name: 'validate',
    title: 'Validate images',
    status: tried.length === 0 ? 'skipped' : passed === all.length ? 'ok' : 'failed',
    started_at: v.start,
    duration_ms: v.ms,
    detail: tried.length === 0 ? 'no image to validate' : `${passed}/${all.length} passed${tried.map((r) => (r.validation.summary ? `; ${recordKey(r)} ${r.validation.summary.passed}/${r.validation.summary.total} checks` : `; ${recordKey(r)} ${r.validation.status}`)).join('')}`,
  });
}

export const buildStep: Step<CiContext> = {
  name: 'build',
  title: 'Build and validate the variants',
  skip: (ctx) => (ctx.stages.status('pre-build') === 'ok' && ctx.config ? undefined : 'pre-build checks failed'),
  async run(ctx) {
    const { opts, plans } = ctx;
    const failFast = new AbortController();
    const signal = AbortSignal.any([opts.signal, failFast.signal]);
    const cpus = buildFlagsOf(ctx).cpus;
    const validate = ctx.deps.makeValidate({ config: ctx.config!, accel: ctx.accel ?? 'tcg', artifactsDir: ctx.root, buildDir: plans[0]!.buildDir, noCleanup: opts.buildFlags.noCleanup ?? false, ...(cpus ? { cpus } : {}) });
    ctx.emit({ type: 'info', message: `${plans.length} variant(s), ${Math.min(opts.jobs, plans.length)} at a time${ctx.sharedCpus ? `, ${ctx.sharedCpus} vCPU(s) per VM (pass --cpus to choose)` : ''}` });
    await runPool(
      plans,
      opts.jobs,
      async (plan) => {
        const key = planKey(plan);
        const record = ctx.records.get(key)!;
        const outcome = await runVariant({ plan, record, build: ctx.deps.build, validate, signal, emit: ctx.emit, validateLogsDir: join(ctx.root, LAYOUT.logs, key, 'validate'), ...(ctx.opts.profiles?.length ? { profiles: ctx.opts.profiles } : {}), now: ctx.now });
        ctx.outcomes.set(key, outcome);
        ctx.emit({ type: record.status === 'passed' ? 'info' : 'warn', message: `[${key}] ${record.status}${record.status === 'passed' ? '' : `: ${(record.build.error ?? record.validation.error ?? '').split('\n')[0]}`}` });
        if (record.status !== 'passed' && record.status !== 'cancelled' && opts.failFast && !failFast.signal.aborted) {
          ctx.emit({ type: 'warn', message: `--fail-fast: ${key} failed, stopping the other variants` });
          failFast.abort(new Error(`--fail-fast: ${key} failed`));
        }
      },
      signal,
    );
    recordStages(ctx);
    const failed = [...ctx.records.values()].filter((r) => r.status !== 'passed');
    if (failed.length) throw new Error(failed.map((r) => `${recordKey(r)} ${r.status}`).join(', '));
  },
};
