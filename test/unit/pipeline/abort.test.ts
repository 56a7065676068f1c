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

test('abortOnSignals: a repeated signal goes to onRepeat (the caller decides; the module never exits the process)', () => {
  const repeats: string[] = [];
  const a = abortOnSignals(['SIGUSR2'], { onRepeat: (s) => repeats.push(s) });
  try {
    process.emit('SIGUSR2', 'SIGUSR2');
    assert.deepEqual(repeats, []);
    process.emit('SIGUSR2', 'SIGUSR2');
    process.emit('SIGUSR2', 'SIGUSR2');
    assert.deepEqual(repeats, ['SIGUSR2', 'SIGUSR2']);
    assert.equal(a.signalName(), 'SIGUSR2');
  } finally {
    a.dispose();
  }
  // Without onRepeat a second signal is ignored (this test process is still here to say so).
  const b = abortOnSignals(['SIGUSR2']);
  process.emit('SIGUSR2', 'SIGUSR2');
  process.emit('SIGUSR2', 'SIGUSR2');
  assert.equal(b.controller.signal.aborted, true);
  b.dispose();
});

test('abortOnSignals: by default SIGHUP aborts like SIGINT and SIGTERM (a closed terminal stops the VMs too)', () => {
  const a = abortOnSignals();
  try {
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(a.controller.signal.aborted, true);
    assert.equal(a.signalName(), 'SIGHUP');
  } finally {
    a.dispose();
  }
});
