// The CI stage records, made from the runner's events of the CI steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StageRecorder } from '../../../src/ci/stages.js';

test('StageRecorder: ok, failed (first line of the error unless the step described itself), skipped with companions, pipeline order', () => {
  let t = 1_000_000;
  const s = new StageRecorder(() => t);
  s.observe({ type: 'step-start', step: 'environment', title: 'x', index: 0, total: 6 });
  s.describe('environment', { detail: 'host tools present' });
  t += 40;
  s.observe({ type: 'step-end', step: 'environment', ms: 40 });
  s.observe({ type: 'step-start', step: 'pre-build', title: 'x', index: 1, total: 6 });
  s.observe({ type: 'step-fail', step: 'pre-build', ms: 5, error: new Error('unknown variant "nope"\nmore') });
  s.observe({ type: 'step-skip', step: 'build', reason: 'pre-build checks failed' });
  // A variant's own steps and other events are not CI stages.
  s.observe({ type: 'step-end', step: 'minimal:build:boot', ms: 9 });
  s.observe({ type: 'info', message: 'hello' });
  s.observe({ type: 'step-start', step: 'notify', title: 'x', index: 5, total: 6 });
  s.describe('notify', { detail: 'POST x: HTTP 500' });
  s.observe({ type: 'step-fail', step: 'notify', ms: 2, error: new Error('POST failed') });
  s.add({ name: 'artifacts', title: 'Artifacts', status: 'ok', started_at: null, duration_ms: 1, detail: 'added out of order' });
  const r = s.records;
  assert.deepEqual(r.map((x) => [x.name, x.status]), [['environment', 'ok'], ['pre-build', 'failed'], ['build', 'skipped'], ['validate', 'skipped'], ['artifacts', 'ok'], ['notify', 'failed']]);
  assert.deepEqual(r[0], { name: 'environment', title: 'Environment setup', status: 'ok', started_at: new Date(1_000_000).toISOString(), duration_ms: 40, detail: 'host tools present' });
  assert.equal(r[1]!.detail, 'unknown variant "nope"');
  assert.equal(r[3]!.detail, 'pre-build checks failed');
  assert.equal(r[5]!.detail, 'POST x: HTTP 500');
  assert.equal(s.status('pre-build'), 'failed');
  assert.equal(s.status('report'), undefined);
});

test('StageRecorder: a step describing its span and status (the build lanes) overrides the runner\'s', () => {
  const s = new StageRecorder(() => 0);
  s.observe({ type: 'step-start', step: 'build', title: 'x', index: 2, total: 6 });
  s.describe('build', { status: 'ok', started_at: '2026-01-01T00:00:00.000Z', duration_ms: 1234, detail: '2/2 built' });
  s.observe({ type: 'step-fail', step: 'build', ms: 2000, error: new Error('production validation-failed') });
  assert.deepEqual(s.records[0], { name: 'build', title: 'Build images', status: 'ok', started_at: '2026-01-01T00:00:00.000Z', duration_ms: 1234, detail: '2/2 built' });
});
