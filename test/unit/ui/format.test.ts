import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorMessage, formatBytes, formatDuration } from '../../../src/ui/format.js';

test('formatDuration', () => {
  assert.equal(formatDuration(250), '250 ms');
  assert.equal(formatDuration(1500), '1.5 s');
  assert.equal(formatDuration(59_940), '59.9 s');
  assert.equal(formatDuration(61_500), '1m02s');
  assert.equal(formatDuration(3_600_000), '60m00s');
  // Rounding never shows 60 seconds.
  assert.equal(formatDuration(59_960), '1m00s');
  assert.equal(formatDuration(119_700), '2m00s');
  assert.equal(formatDuration(12.4), '12 ms');
});

test('formatBytes', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(10 * 2 ** 30), '10.0 GiB');
});

test('errorMessage', () => {
  assert.equal(errorMessage(new Error('boom')), 'boom');
  assert.equal(errorMessage('text'), 'text');
});
