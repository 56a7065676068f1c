import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tickInterval, timelineSvg } from '../../../src/ci/timeline.js';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();

test('one bar per step, on a shared wall-clock axis, failures marked, labels escaped', () => {
  const svg = timelineSvg([
    { label: 'minimal', spans: [
      { phase: 'build', step: 'boot', start: at(0), duration_ms: 60_000, status: 'ok' },
      { phase: 'build', step: 'build-in-vm', start: at(60), duration_ms: 240_000, status: 'ok' },
      { phase: 'validate', step: 'checks', start: at(300), duration_ms: 90_000, status: 'ok' },
    ] },
    { label: 'prod<&>', spans: [{ phase: 'build', step: 'boot', start: at(120), duration_ms: 30_000, status: 'failed' }] },
  ]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<rect class="span /g) ?? []).length, 4);
  assert.equal((svg.match(/class="span validate ok"/g) ?? []).length, 1);
  assert.match(svg, /class="span build failed"[^>]*fill="#e45756"/);
  assert.match(svg, /prod&lt;&amp;&gt;/);
  assert.ok(!svg.includes('prod<&>'));
  assert.match(svg, /total 6m30s/);
  // Bars start where their time says: the second row's bar starts at 120 of 390 s.
  const x = (step: string, cls: string): number => Number(new RegExp(`class="span ${cls}" data-step="${step}" x="([\\d.]+)"`).exec(svg)![1]);
  assert.ok(x('boot', 'build failed') > x('boot', 'build ok'));
  assert.ok(!/<script/i.test(svg));
});

test('empty timeline and tick intervals', () => {
  assert.match(timelineSvg([]), /no timeline recorded/);
  assert.equal(tickInterval(390_000), 60);
  assert.equal(tickInterval(20 * 60_000), 120);
  assert.equal(tickInterval(5_000), 1);
});
