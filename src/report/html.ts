// One self-contained HTML page (no scripts, no external resources): a summary, a bar chart of
// boot times (inline SVG) and a table of checks per image.
import { formatDuration } from '../ui/format.js';
import { rowName, type CheckResult, type ImageResult, type ValidationReport } from './model.js';
import { escapeMarkup as esc } from './xml.js';

function dur(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '–' : formatDuration(ms);
}

const COLORS = { ssh: '#4e79a7', cloud: '#f28e2b', checks: '#59a14f', rest: '#bab0ac' };

/** Horizontal stacked bars per image (per image and profile in a matrix run): power-on to SSH-ready, to cloud-init done, checks, the rest. */
export function bootChart(images: readonly ImageResult[]): string {
  const rowH = 28;
  // Room for the longest row name ("vexfs-minimal-1.0.0 [uefi-nvme-512m-2cpu]") at ~7 px a character.
  const labelW = Math.max(260, 16 + 7 * Math.max(0, ...images.map((i) => rowName(i).length)));
  const barW = 560;
  const top = 30;
  const max = Math.max(1, ...images.map((i) => i.timings.totalMs));
  const scale = (ms: number): number => (ms / max) * barW;
  const rows = images.map((img, n) => {
    const y = top + n * rowH;
    const t = img.timings;
    const ssh = t.sshReadyMs ?? 0;
    const cloud = Math.max(0, (t.cloudInitDoneMs ?? ssh) - ssh);
    const checks = t.checksMs ?? 0;
    const rest = Math.max(0, t.totalMs - ssh - cloud - checks);
    let x = labelW;
    const segs: string[] = [];
    for (const [ms, color, what] of [
      [ssh, COLORS.ssh, 'power-on to SSH-ready'],
      [cloud, COLORS.cloud, 'SSH-ready to cloud-init done'],
      [checks, COLORS.checks, 'checks'],
      [rest, COLORS.rest, 'set-up and teardown'],
    ] as const) {
      const w = scale(ms);
      if (w > 0) segs.push(`<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${color}"><title>${esc(rowName(img))}: ${what} ${esc(dur(ms))}</title></rect>`);
      x += w;
    }
    return (
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(rowName(img))}</text>` +
      segs.join('') +
      `<text x="${(x + 6).toFixed(1)}" y="${y + 15}">${esc(dur(t.totalMs))}${t.sshReadyMs !== null ? ` (SSH ${esc(dur(t.sshReadyMs))})` : ''}</text>`
    );
  });
  const legend = [
    [COLORS.ssh, 'power-on → SSH ready'],
    [COLORS.cloud, '→ cloud-init done'],
    [COLORS.checks, 'checks'],
    [COLORS.rest, 'set-up/teardown'],
  ]
    .map(([c, l], i) => `<rect x="${labelW + i * 150}" y="4" width="12" height="12" fill="${c}"/><text x="${labelW + i * 150 + 16}" y="14">${l}</text>`)
    .join('');
  const h = top + images.length * rowH + 8;
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Boot and validation times" width="${labelW + barW + 160}" height="${h}" font-family="sans-serif" font-size="12">${legend}${rows.join('')}</svg>`;
}

function statusClass(c: CheckResult): string {
  return c.status === 'failed' && c.severity === 'warning' ? 'warning' : c.status;
}

function imageTable(img: ImageResult): string {
  const e = img.error;
  const err = e
    ? `<div class="err"><b>${esc(e.kind)}</b> (step ${esc(e.step)}): ${esc(e.message)}${e.serialTail ? `<details><summary>Last serial console lines</summary><pre>${esc(e.serialTail)}</pre></details>` : ''}</div>`
    : '';
  const rows = img.checks
    .map(
      (c) =>
        `<tr class="${statusClass(c)}"><td><code>${esc(c.id)}</code><br><small>${esc(c.description)}</small></td><td>${esc(c.group)}</td><td>${c.severity}</td><td class="st">${esc(statusClass(c))}</td><td>${esc(dur(c.durationMs))}</td><td>${esc(c.message)}${c.output && c.status !== 'passed' ? `<details><summary>output</summary><pre>${esc(c.output)}</pre></details>` : ''}</td></tr>`,
    )
    .join('\n');
  const s = img.summary;
  return `<section>
<h2 class="${img.status}">${esc(rowName(img))} <small>${esc(img.variant)} ${esc(img.version)} — ${img.status}</small></h2>
<p>SSH ready ${esc(dur(img.timings.sshReadyMs))}, cloud-init ${esc(img.cloudInit?.status ?? 'unknown')} at ${esc(dur(img.timings.cloudInitDoneMs))}, checks ${esc(dur(img.timings.checksMs))}, total ${esc(dur(img.timings.totalMs))} (${esc(img.accel.toUpperCase())}). ${s.passed}/${s.total} checks passed, ${s.failed} failed, ${s.warnings} warnings, ${s.skipped} skipped, ${s.errors} errors.</p>
${err}
${img.checks.length ? `<table><thead><tr><th>Check</th><th>Group</th><th>Severity</th><th>Result</th><th>Time</th><th>Message</th></tr></thead><tbody>\n${rows}\n</tbody></table>` : ''}
</section>`;
}

export function renderHtml(report: ValidationReport): string {
  const s = report.summary;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>VexFS image validation — ${report.ok ? 'passed' : 'failed'}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 .passed, h2.passed { color: #2a7a2a; } h1 .failed, h2.failed, h2.error { color: #b42318; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2em; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
tr.passed td.st { color: #2a7a2a; } tr.failed td.st, tr.error td.st { color: #b42318; font-weight: bold; }
tr.warning td.st { color: #b54708; font-weight: bold; } tr.skipped td.st { color: #777; }
tr.failed, tr.error { background: #fef3f2; } tr.warning { background: #fffaeb; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
.err { background: #fef3f2; border: 1px solid #fda29b; padding: 8px; margin-bottom: 1em; }
small { color: #666; }
</style>
</head>
<body>
<h1>VexFS image validation: <span class="${report.ok ? 'passed' : 'failed'}">${report.ok ? 'passed' : 'failed'}</span></h1>
<p>${s.images} image(s): ${s.passed} passed, ${s.failed} failed, ${s.errors} could not be validated. Checks: ${s.checks.passed} passed, ${s.checks.failed} failed, ${s.checks.warnings} warnings, ${s.checks.skipped} skipped, ${s.checks.errors} errors.
Started ${esc(report.startedAt)}, ${esc(dur(report.durationMs))} in all, accelerator ${esc(report.options.accel.toUpperCase())}, vexfs-image ${esc(report.tool.version)}.</p>
<h2>Boot and validation times</h2>
${bootChart(report.images)}
${report.images.map(imageTable).join('\n')}
</body>
</html>
`;
}
