// The CI report's timeline: every variant's build and validation steps on one wall-clock axis,
// as inline SVG (no scripts, no external assets), so parallel jobs and shards show as overlap.
import { escapeMarkup } from '../report/xml.js';
import { formatDuration } from '../ui/format.js';
import type { TimelineSpan } from './manifest.js';

export interface TimelineRow {
  label: string;
  spans: readonly TimelineSpan[];
}

const TICKS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];

/** A tick interval (seconds) giving at most maxTicks ticks over totalMs. */
export function tickInterval(totalMs: number, maxTicks = 10): number {
  const s = Math.max(totalMs / 1000, 1);
  return TICKS_S.find((t) => s / t <= maxTicks) ?? Math.ceil(s / maxTicks / 3600) * 3600;
}

function tickLabel(s: number): string {
  if (s === 0) return '0';
  if (s < 60) return `${s}s`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${Math.floor(s / 60)}m${s % 60}s`;
}

const COLORS = {
  build: ['#4c78a8', '#72a0cf'],
  validate: ['#54a24b', '#88c77f'],
  failed: '#e45756',
  skipped: '#bab0ac',
};

export interface TimelineOptions {
  width?: number;
  labelWidth?: number;
  rowHeight?: number;
}

/** The chart; an empty row list gives a one-line "no timeline" SVG. */
export function timelineSvg(rows: readonly TimelineRow[], opts: TimelineOptions = {}): string {
  const width = opts.width ?? 960;
  const labelW = opts.labelWidth ?? 150;
  const rowH = opts.rowHeight ?? 30;
  const spans = rows.flatMap((r) => r.spans.map((s) => ({ s, t: Date.parse(s.start) }))).filter((x) => Number.isFinite(x.t));
  if (spans.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="24"><text x="0" y="16" font-family="sans-serif" font-size="12">no timeline recorded</text></svg>`;
  }
  const origin = Math.min(...spans.map((x) => x.t));
  const end = Math.max(...spans.map((x) => x.t + x.s.duration_ms));
  const total = Math.max(end - origin, 1000);
  const plotW = width - labelW - 20;
  const x = (ms: number): number => labelW + (ms / total) * plotW;
  const top = 20;
  const height = top + rows.length * rowH + 50;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="pipeline timeline" class="vexfs-timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<title>Pipeline timeline: ${escapeMarkup(formatDuration(total))} from the first step to the last</title>`);
  const tick = tickInterval(total);
  for (let s = 0; s * 1000 <= total; s += tick) {
    const tx = x(s * 1000).toFixed(1);
    out.push(`<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    out.push(`<text x="${tx}" y="${top - 7}" text-anchor="middle" fill="#555">${tickLabel(s)}</text>`);
  }
  rows.forEach((row, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" fill="#222">${escapeMarkup(row.label)}</text>`);
    const alt = { build: 0, validate: 0 };
    for (const s of row.spans) {
      const t = Date.parse(s.start);
      if (!Number.isFinite(t)) continue;
      const fill = s.status === 'failed' ? COLORS.failed : s.status === 'skipped' ? COLORS.skipped : COLORS[s.phase][alt[s.phase]++ % 2]!;
      const rx = x(t - origin);
      const w = Math.max((s.duration_ms / total) * plotW, 1);
      const tip = `${row.label} ${s.phase} ${s.step}: ${formatDuration(s.duration_ms)} (${s.status})`;
      out.push(
        `<rect class="span ${s.phase} ${s.status}" data-step="${escapeMarkup(s.step)}" x="${rx.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${fill}" stroke="#fff" stroke-width="0.5"><title>${escapeMarkup(tip)}</title></rect>`,
      );
      if (w > 60) out.push(`<text x="${(rx + 3).toFixed(1)}" y="${y + rowH / 2 + 4}" fill="#fff" pointer-events="none">${escapeMarkup(s.step)}</text>`);
    }
  });
  const ly = top + rows.length * rowH + 28;
  const legend: Array<[string, string]> = [
    ['build', COLORS.build[0]!],
    ['validate', COLORS.validate[0]!],
    ['failed', COLORS.failed],
    ['skipped', COLORS.skipped],
  ];
  legend.forEach(([name, color], i) => {
    const lx = labelW + i * 90;
    out.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${color}"/><text x="${lx + 16}" y="${ly}" fill="#222">${name}</text>`);
  });
  out.push(`<text x="${width - 20}" y="${ly}" text-anchor="end" fill="#555">total ${escapeMarkup(formatDuration(total))}</text>`);
  out.push('</svg>');
  return out.join('\n');
}
