// The Markdown summary (also appended to $GITHUB_STEP_SUMMARY): one overview table, then per
// image what went wrong, with every check in a collapsed table.
import { formatDuration } from '../ui/format.js';
import { rowName, stripControl, type CheckResult, type ImageResult, type ValidationReport } from './model.js';

function cell(s: string): string {
  return stripControl(s).replace(/\|/g, '\\|').replace(/\s*\n\s*/g, '<br>').trim();
}

function dur(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : formatDuration(ms);
}

const ICON: Record<string, string> = { passed: '✅', failed: '❌', error: '💥', skipped: '⏭️' };

function checkIcon(c: CheckResult): string {
  if (c.status === 'failed' && c.severity === 'warning') return '⚠️';
  return ICON[c.status] ?? c.status;
}

function fence(text: string): string {
  const t = stripControl(text);
  const ticks = t.includes('```') ? '````' : '```';
  return `${ticks}\n${t}\n${ticks}`;
}

function imageSection(img: ImageResult): string {
  const out: string[] = [];
  const s = img.summary;
  out.push(`### ${ICON[img.status]} ${cell(rowName(img))} (${cell(img.variant)} ${cell(img.version)}): ${img.status}`);
  out.push('');
  if (img.error) {
    out.push(`**${img.error.step === 'checks' ? 'Guest lost during the checks' : 'Could not validate'}: ${cell(img.error.kind)}** — ${cell(img.error.message.split('\n')[0] ?? '')}`);
    if (img.error.serialTail) {
      out.push('', '<details><summary>Last 30 serial console lines</summary>', '', fence(img.error.serialTail), '', '</details>');
    }
    out.push('');
  }
  const bad = img.checks.filter((c) => c.status !== 'passed');
  if (bad.length) {
    out.push('| Check | Severity | Result | Why |', '|---|---|---|---|');
    for (const c of bad) out.push(`| \`${c.id}\` ${cell(c.description)} | ${c.severity} | ${checkIcon(c)} ${c.status} | ${cell(c.message)} |`);
    out.push('');
  }
  if (img.checks.length) {
    out.push(
      `<details><summary>All ${s.total} checks: ${s.passed} passed, ${s.failed} failed, ${s.warnings} warnings, ${s.skipped} skipped, ${s.errors} errors</summary>`,
      '',
      '| Check | Group | Severity | Result | Time | Message |',
      '|---|---|---|---|---|---|',
    );
    for (const c of img.checks) out.push(`| \`${c.id}\` | ${cell(c.group)} | ${c.severity} | ${checkIcon(c)} | ${dur(c.durationMs)} | ${cell(c.message)} |`);
    out.push('', '</details>', '');
  }
  return out.join('\n');
}

export function renderMarkdown(report: ValidationReport): string {
  const s = report.summary;
  const out: string[] = [];
  out.push(`## VexFS image validation: ${report.ok ? '✅ passed' : '❌ failed'}`);
  out.push('');
  out.push(
    `${s.images} image(s): ${s.passed} passed, ${s.failed} failed, ${s.errors} could not be validated. ` +
      `Checks: ${s.checks.passed} passed, ${s.checks.failed} failed, ${s.checks.warnings} warnings, ${s.checks.skipped} skipped, ${s.checks.errors} errors. ` +
      `Accelerator ${report.options.accel.toUpperCase()}, ${dur(report.durationMs)} in all.`,
  );
  out.push('');
  out.push('| Image | Variant | Version | Result | SSH ready | cloud-init done | Checks (pass/total) | Total |', '|---|---|---|---|---|---|---|---|');
  for (const img of report.images) {
    out.push(
      `| ${cell(rowName(img))} | ${cell(img.variant)} | ${cell(img.version)} | ${ICON[img.status]} ${img.status}${img.error ? ` (${cell(img.error.kind)})` : ''} | ${dur(img.timings.sshReadyMs)} | ${dur(img.timings.cloudInitDoneMs)} | ${img.summary.passed}/${img.summary.total} | ${dur(img.timings.totalMs)} |`,
    );
  }
  out.push('');
  for (const img of report.images) out.push(imageSection(img));
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}
