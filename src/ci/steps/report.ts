// CI stage 6: the validation reports (JSON, JUnit, Markdown, HTML with the timeline) and the
// summary. A variant that has no image is in them as an error, not silently absent.
import { join } from 'node:path';
import { PACKAGE_VERSION } from '../../paths.js';
import type { Step } from '../../pipeline/step.js';
import { buildReport, type ImageResult, type ValidationReport } from '../../report/model.js';
import { LAYOUT } from '../artifacts.js';
import { finishManifest, type CiContext } from '../context.js';
import { recordKey, type ImageRecord } from '../manifest.js';
import { writeReports } from '../reports.js';
import { STAGE_TITLES } from '../stages.js';

/** A stand-in validation result for a variant that has no image to validate. */
export function unbuiltResult(r: ImageRecord, path: string, accel: string): ImageResult {
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

/** The validation report of the run: one result per variant (per variant and profile with --profile). */
export function validationReport(ctx: CiContext): ValidationReport {
  const accel = ctx.accel ?? 'unknown';
  // With a validation matrix (--profile) a variant has a row per profile.
  const results = [...ctx.records.values()].flatMap((r) => {
    const o = ctx.outcomes.get(recordKey(r));
    return o?.validations ?? [o?.validation ?? unbuiltResult(r, join(ctx.root, LAYOUT.images, `${r.name}.qcow2`), accel)];
  });
  const t = ctx.opts.validateTimeouts;
  return buildReport(results, {
    startedAt: new Date(ctx.t0),
    finishedAt: new Date(ctx.now()),
    toolVersion: PACKAGE_VERSION,
    options: { bootTimeoutS: t?.bootTimeoutS ?? 0, sshTimeoutS: t?.sshTimeoutS ?? 0, jobs: ctx.opts.jobs, accel },
  });
}

export const reportStep: Step<CiContext> = {
  name: 'report',
  title: STAGE_TITLES.report!,
  async run(ctx) {
    ctx.validation = validationReport(ctx);
    ctx.reports = await writeReports(ctx.root, ctx.validation, finishManifest(ctx));
    ctx.stages.describe('report', { detail: `${Object.values(ctx.reports).length} reports in ${LAYOUT.reports}/` });
  },
};
