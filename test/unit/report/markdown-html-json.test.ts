import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../helpers/fs.js';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootChart, renderHtml } from '../../../src/report/html.js';
import { renderJson } from '../../../src/report/json.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { parseFormats, writeReports } from '../../../src/report/write.js';
import { fixtureReport } from './fixture.js';


test('JSON: round-trips to the same object, with the documented top-level keys', () => {
  const r = fixtureReport();
  const back = JSON.parse(renderJson(r));
  assert.deepEqual(back, JSON.parse(JSON.stringify(r)));
  assert.deepEqual(Object.keys(back), ['schema', 'schemaVersion', 'tool', 'startedAt', 'finishedAt', 'durationMs', 'ok', 'options', 'summary', 'images']);
  assert.deepEqual(Object.keys(back.images[0]).sort(), ['accel', 'checks', 'cloudInit', 'identitySource', 'name', 'path', 'startedAt', 'status', 'summary', 'timings', 'variant', 'version'].sort());
});

test('Markdown: overview table, failed checks with why, boot failure with serial lines', () => {
  const md = renderMarkdown(fixtureReport());
  assert.match(md, /^## VexFS image validation: ❌ failed/);
  assert.match(md, /\| vexfs-minimal-1\.0\.0 \| minimal \| 1\.0\.0 \| ✅ passed \| 24\.0 s \| 29\.0 s \| 3\/3 \| 45\.0 s \|/);
  assert.match(md, /\| `module-info` module-info description \| error \| ❌ failed \| modinfo vexfs: Module vexfs not found\. \|/);
  assert.match(md, /\| `vexfs-service-enabled` .* \| warning \| ⚠️ failed \|/);
  assert.match(md, /\*\*Could not validate: kernel panic\*\*/);
  assert.match(md, /```\nline 1\n\[ {4}2\.0\] Kernel panic/);
});

test('Markdown: table cells escape pipes and newlines', () => {
  const r = fixtureReport();
  r.images[1]!.checks[0]!.message = 'a | b\nc';
  assert.match(renderMarkdown(r), /a \\\| b<br>c/);
});

test('HTML: self-contained, escaped, one table per image that ran checks, and a boot-time chart', () => {
  const html = renderHtml(fixtureReport());
  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
  assert.equal((html.match(/<table>/g) ?? []).length, 2);
  assert.equal((html.match(/<section>/g) ?? []).length, 3);
  assert.match(html, /<svg[^>]*aria-label="Boot and validation times"/);
  assert.ok(html.includes('&lt;&amp;&gt;'));
  assert.ok(!html.includes('\u001b'));
});

test('HTML chart: one bar row per image, widths proportional to total time', () => {
  const r = fixtureReport();
  const svg = bootChart(r.images);
  const labels = [...svg.matchAll(/<text x="252" y="\d+" text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(labels, r.images.map((i) => i.name));
  // The longest image (45 s) spans the full 560 px.
  const widths = [...svg.matchAll(/<rect x="[\d.]+" y="30" width="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(Math.abs(widths.reduce((a, b) => a + b, 0) - 560) < 1, String(widths));
});

test('parseFormats accepts lists, repeats and aliases, rejects unknown', () => {
  assert.deepEqual(parseFormats('json,junit'), ['json', 'junit']);
  assert.deepEqual(parseFormats(['md', 'html', 'md']), ['md', 'html']);
  assert.deepEqual(parseFormats('all'), ['json', 'junit', 'md', 'html']);
  assert.deepEqual(parseFormats('markdown,xml'), ['md', 'junit']);
  assert.throws(() => parseFormats('pdf'), /unknown report format "pdf"/);
});

test('writeReports writes the chosen formats and appends the summary to GITHUB_STEP_SUMMARY', async () => {
  const dir = await tempDir('vx-report-');
  const summary = join(dir, 'step-summary.md');
  await writeFile(summary, 'earlier step\n');
  const files = await writeReports(fixtureReport(), { dir: join(dir, 'out'), formats: ['json', 'junit'], githubStepSummary: summary });
  assert.deepEqual((await readdir(join(dir, 'out'))).sort(), ['junit.xml', 'validation.json']);
  assert.equal(files.json, join(dir, 'out', 'validation.json'));
  const s = await readFile(summary, 'utf8');
  assert.ok(s.startsWith('earlier step\n## VexFS image validation'));
});
