// The end-of-run summary: a plain-text table for the terminal and CI logs, and Markdown for
// $GITHUB_STEP_SUMMARY / merge requests.
import { formatDuration } from '../ui/format.js';
import { recordKey, type CiManifest, type ImageRecord } from './manifest.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd()).join('\n');
}

const dur = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : formatDuration(ms));

function checks(i: ImageRecord): string {
  const s = i.validation.summary;
  return s ? `${s.passed}/${s.total}` : '-';
}

function why(i: ImageRecord): string {
  if (i.status === 'passed') return '';
  return (i.build.error ?? i.validation.error ?? '').split('\n')[0]!.slice(0, 120);
}

export function headline(m: CiManifest): string {
  const commit = m.commit_sha ? `commit ${m.commit_sha.slice(0, 12)}` : 'no commit';
  return `vexfs-image CI #${m.build_number} (${commit}, VexFS ${m.vexfs_version}): ${m.ok ? 'PASSED' : 'FAILED'} in ${formatDuration(m.duration_ms)}`;
}

export function summaryText(m: CiManifest, artifactsDir?: string): string {
  const stages = table([['stage', 'status', 'duration', 'detail'], ...m.stages.map((s) => [s.name, s.status, s.status === 'skipped' ? '-' : dur(s.duration_ms), s.detail])]);
  const variants = table([
    ['variant', 'status', 'build', 'validate', 'checks', 'note'],
    ...m.images.map((i) => [recordKey(i), i.status, dur(i.build.duration_ms), dur(i.validation.duration_ms), checks(i), why(i)]),
  ]);
  const out = [headline(m), '', stages, '', variants];
  if (m.notification) out.push('', `notification: ${m.notification.ok ? `sent (HTTP ${m.notification.status})` : `FAILED (${m.notification.error})`}`);
  if (artifactsDir) out.push('', `artifacts: ${artifactsDir}`);
  return `${out.join('\n')}\n`;
}

const mdCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryMarkdown(m: CiManifest): string {
  const icon = (ok: boolean): string => (ok ? '✅' : '❌');
  const lines = [
    `## ${icon(m.ok)} ${mdCell(headline(m))}`,
    '',
    '| stage | status | duration | detail |',
    '|---|---|---:|---|',
    ...m.stages.map((s) => `| ${s.name} | ${s.status} | ${s.status === 'skipped' ? '-' : dur(s.duration_ms)} | ${mdCell(s.detail)} |`),
    '',
    '| variant | status | build | validate | checks | image | note |',
    '|---|---|---:|---:|---:|---|---|',
    ...m.images.map((i) => {
      const img = i.files.find((f) => f.name.endsWith('.qcow2'));
      const imgCell = img ? `\`${img.name}\` (${(img.size / 2 ** 20).toFixed(0)} MiB)` : '-';
      return `| ${recordKey(i)} | ${icon(i.status === 'passed')} ${i.status} | ${dur(i.build.duration_ms)} | ${dur(i.validation.duration_ms)} | ${checks(i)} | ${imgCell} | ${mdCell(why(i))} |`;
    }),
  ];
  if (m.shards?.length) lines.push('', `Merged from ${m.shards.length} shard(s): ${m.shards.map((s) => `${s.variants.join(',')} (${s.ok ? 'ok' : 'failed'})`).join('; ')}`);
  return `${lines.join('\n')}\n`;
}
