import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageStatus, stripControl, summarizeChecks } from '../../../src/report/model.js';
import { check, fixtureReport } from './fixture.js';

test('summary counts error-severity failures, warnings, skips and errors apart', () => {
  const s = summarizeChecks([check('a', 'passed'), check('b', 'failed'), check('c', 'failed', { severity: 'warning' }), check('d', 'skipped'), check('e', 'error')]);
  assert.deepEqual(s, { total: 5, passed: 1, failed: 1, warnings: 1, skipped: 1, errors: 1 });
});

test('an image fails on an error-severity failure, not on a warning', () => {
  assert.equal(imageStatus([check('a', 'passed'), check('w', 'failed', { severity: 'warning' })], undefined), 'passed');
  assert.equal(imageStatus([check('a', 'failed')], undefined), 'failed');
  assert.equal(imageStatus([check('a', 'error')], undefined), 'failed');
  assert.equal(imageStatus([], { kind: 'ssh timeout', step: 'wait-ssh', message: 'x' }), 'error');
});

test('report summary and ok flag', () => {
  const r = fixtureReport();
  assert.equal(r.ok, false);
  assert.equal(r.schema, 'vexfs-image/validation-report');
  assert.equal(r.schemaVersion, 1);
  assert.deepEqual({ images: r.summary.images, passed: r.summary.passed, failed: r.summary.failed, errors: r.summary.errors }, { images: 3, passed: 1, failed: 1, errors: 1 });
  assert.equal(r.durationMs, 120_000);
});

test('stripControl removes ANSI sequences and control characters but keeps newlines and tabs', () => {
  assert.equal(stripControl('a\x1b[31mred\x1b[0m\x07b\r\nc\td\x00'), 'aredb\nc\td');
});
