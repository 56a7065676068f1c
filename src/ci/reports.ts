// The CI reports: the validation reports (JSON, JUnit, Markdown, HTML) written by src/report/,
// plus the CI's own: ci-report.html (the validation HTML page with the CI stage and variant
// tables and the timeline chart of every variant's stages on top) and ci-summary.md (for
// $GITHUB_STEP_SUMMARY and merge requests).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderHtml } from '../report/html.js';
import { renderMarkdown } from '../report/markdown.js';
import type { ValidationReport } from '../report/model.js';
import { REPORT_FORMATS, writeReports as writeValidationReports } from '../report/write.js';
import { escapeMarkup } from '../report/xml.js';
import { formatDuration } from '../ui/format.js';
import { LAYOUT } from './artifacts.js';
import type { CiManifest } from './manifest.js';
import { headline, summaryMarkdown } from './summary.js';
import { timelineSvg } from './timeline.js';

export interface ReportFiles {
  json: string;
  junit: string;
  markdown: string;
  html: string;
  ciHtml: string;
  summary: string;
}

/** The timeline rows of a manifest: one per variant. */
export function timelineRows(m: CiManifest): Array<{ label: string; spans: CiManifest['images'][number]['timeline'] }> {
  return m.images.map((i) => ({ label: i.shard ? `${i.variant} (${i.shard})` : i.variant, spans: i.timeline }));
}

/** The CI section: headline, stage and variant tables, timeline. */
export function ciHtmlSection(m: CiManifest): string {
  const e = escapeMarkup;
  const dur = (ms: number | null): string => (ms === null ? '–' : formatDuration(ms));
  const st = (ok: boolean): string => (ok ? 'passed' : 'failed');
  const stageRows = m.stages
    .map((s) => `<tr class="${s.status === 'ok' ? 'passed' : s.status}"><td>${e(s.name)}</td><td class="st">${e(s.status)}</td><td>${s.status === 'skipped' ? '–' : e(dur(s.duration_ms))}</td><td>${e(s.detail)}</td></tr>`)
    .join('\n');
  const variantRows = m.images
    .map((i) => {
      const s = i.validation.summary;
      const img = i.files.find((f) => f.name.endsWith('.qcow2'));
      const note = i.status === 'passed' ? '' : (i.build.error ?? i.validation.error ?? '').split('\n')[0]!;
      return `<tr class="${st(i.status === 'passed')}"><td>${e(i.variant)}</td><td class="st">${e(i.status)}</td><td>${e(dur(i.build.duration_ms))}</td><td>${e(dur(i.validation.duration_ms))}</td><td>${s ? `${s.passed}/${s.total}` : '–'}</td><td>${img ? `<code>${e(img.name)}</code> ${(img.size / 2 ** 20).toFixed(0)} MiB<br><small><code>${e(img.sha256)}</code></small>` : '–'}</td><td>${e(note)}</td></tr>`;
    })
    .join('\n');
  return [
    `<section class="ci-pipeline">`,
    `<h1>CI pipeline: <span class="${st(m.ok)}">${st(m.ok)}</span></h1>`,
    `<p>${e(headline(m))}<br>build <code>${e(m.build_number)}</code>, commit <code>${e(m.commit_sha ?? 'unknown')}</code>, tag <code>${e(m.tag ?? 'none')}</code>, --jobs ${m.jobs}${m.fail_fast ? ', --fail-fast' : ''}, accelerator ${e(m.accelerator ?? 'unknown')}${m.shards ? `, merged from ${m.shards.length} shards` : ''}.</p>`,
    `<h2>Stages</h2>`,
    `<table class="ci-stages"><thead><tr><th>stage</th><th>status</th><th>duration</th><th>detail</th></tr></thead><tbody>\n${stageRows}\n</tbody></table>`,
    `<h2>Variants</h2>`,
    `<table class="ci-variants"><thead><tr><th>variant</th><th>status</th><th>build</th><th>validate</th><th>checks</th><th>image</th><th>note</th></tr></thead><tbody>\n${variantRows}\n</tbody></table>`,
    `<h2>Timeline</h2>`,
    `<div class="timeline">${timelineSvg(timelineRows(m))}</div>`,
    `</section>`,
    `<hr>`,
  ].join('\n');
}

/** The validation report page with the CI section at the top of its body. */
export function renderCiHtml(report: ValidationReport, m: CiManifest): string {
  const page = renderHtml(report).replace(/<title>[^<]*<\/title>/, `<title>VexFS images: CI #${escapeMarkup(m.build_number)}: ${m.ok ? 'passed' : 'failed'}</title>`);
  const at = page.indexOf('<body>');
  if (at < 0) return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>VexFS images: CI</title></head><body>\n${ciHtmlSection(m)}\n</body></html>\n`;
  const cut = at + '<body>'.length;
  return `${page.slice(0, cut)}\n${ciHtmlSection(m)}${page.slice(cut)}`;
}

export async function writeReports(root: string, report: ValidationReport, m: CiManifest): Promise<ReportFiles> {
  await writeValidationReports(report, { dir: join(root, LAYOUT.reports), formats: REPORT_FORMATS });
  const files: ReportFiles = {
    json: join(root, LAYOUT.reportJson),
    junit: join(root, LAYOUT.reportJunit),
    markdown: join(root, LAYOUT.reportMarkdown),
    html: join(root, LAYOUT.reportHtml),
    ciHtml: join(root, LAYOUT.ciHtml),
    summary: join(root, LAYOUT.summaryMarkdown),
  };
  await writeFile(files.ciHtml, renderCiHtml(report, m));
  await writeFile(files.summary, `${summaryMarkdown(m)}\n${renderMarkdown(report)}`);
  return files;
}
