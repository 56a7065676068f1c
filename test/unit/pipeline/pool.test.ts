import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPool } from '../../../src/pipeline/pool.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('runPool: results in item order, never more than jobs at a time', async () => {
  let running = 0;
  let peak = 0;
  const out = await runPool([30, 5, 20, 1, 10], 2, async (ms, i) => {
    running++;
    peak = Math.max(peak, running);
    await sleep(ms);
    running--;
    return `${i}:${ms}`;
  });
  assert.deepEqual(out, ['0:30', '1:5', '2:20', '3:1', '4:10']);
  assert.equal(peak, 2);
});

test('runPool: stops taking items once the signal is aborted; those are undefined', async () => {
  const ac = new AbortController();
  const out = await runPool([1, 2, 3, 4], 1, async (n) => {
    if (n === 2) ac.abort();
    return n * 10;
  }, ac.signal);
  assert.deepEqual(out, [10, 20, undefined, undefined]);
});

test('runPool: a throwing worker rejects the pool', async () => {
  await assert.rejects(runPool([1, 2], 2, async (n) => {
    if (n === 2) throw new Error('lane broke');
    return n;
  }), /lane broke/);
});
