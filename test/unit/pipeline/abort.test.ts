import { test } from 'node:test';
import assert from 'node:assert/strict';
import { abortOnSignals } from '../../../src/pipeline/abort.js';

test('abortOnSignals: a signal aborts the controller and is remembered; dispose removes the handlers', () => {
  const before = process.listenerCount('SIGUSR2');
  const a = abortOnSignals(['SIGUSR2']);
  assert.equal(process.listenerCount('SIGUSR2'), before + 1);
  assert.equal(a.signalName(), undefined);
  assert.equal(a.controller.signal.aborted, false);
  process.emit('SIGUSR2', 'SIGUSR2');
  assert.equal(a.controller.signal.aborted, true);
  assert.equal(a.signalName(), 'SIGUSR2');
  assert.match(String(a.controller.signal.reason), /received SIGUSR2/);
  a.dispose();
  assert.equal(process.listenerCount('SIGUSR2'), before);
});
