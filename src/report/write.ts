// Writes the selected report formats into a directory (and the Markdown summary to
// $GITHUB_STEP_SUMMARY when set). The renderers themselves are pure.
import { appendFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { renderHtml } from './html.js';
import { renderJson } from './json.js';
import { renderJunit } from './junit.js';
import { renderMarkdown } from './markdown.js';
import type { ValidationReport } from './model.js';

export const REPORT_FORMATS = ['json', 'junit', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const REPORT_FILES: Record<ReportFormat, string> = {
  json: 'validation.json',
  junit: 'junit.xml',
  md: 'summary.md',
  html: 'report.html',
};

const RENDER: Record<ReportFormat, (r: ValidationReport) => string> = {
  json: renderJson,
  junit: renderJunit,
  md: renderMarkdown,
  html: renderHtml,
};

/** "json,junit" or ["json", "md"] -> formats; "all" = every format. */
export function parseFormats(value: string | readonly string[]): ReportFormat[] {
  const parts = (typeof value === 'string' ? [value] : value).flatMap((v) => v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);
  const out = new Set<ReportFormat>();
  for (const p of parts) {
    if (p === 'all') REPORT_FORMATS.forEach((f) => out.add(f));
    else if (p === 'markdown') out.add('md');
    else if (p === 'xml') out.add('junit');
    else if ((REPORT_FORMATS as readonly string[]).includes(p)) out.add(p as ReportFormat);
    else throw new UsageError(`unknown report format ${JSON.stringify(p)}: use any of ${REPORT_FORMATS.join(', ')} (comma-separated)`);
  }
  return [...out];
}

export async function writeReports(
  report: ValidationReport,
  opts: { dir: string; formats: readonly ReportFormat[]; githubStepSummary?: string },
): Promise<Record<string, string>> {
  if (opts.formats.length) await mkdir(opts.dir, { recursive: true });
  const written: Record<string, string> = {};
  for (const f of opts.formats) {
    const path = join(opts.dir, REPORT_FILES[f]);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, RENDER[f](report));
    await rename(tmp, path);
    written[f] = path;
  }
  if (opts.githubStepSummary) {
    await appendFile(opts.githubStepSummary, `${renderMarkdown(report)}\n`);
    written.githubStepSummary = opts.githubStepSummary;
  }
  return written;
}
