// The base-cache lock: an OFD lock on an open file, released by the kernel when its holder dies.
// Proven with real processes: a SIGKILLed holder's lock is free at once, and contenders never
// hold it together (the trial: 6 contenders, 30 rounds each, double holders counted).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { acquireLock, type Lock } from '../../../src/base/lock.js';
import { BaseCache } from '../../../src/base/cache.js';
import { run, spawnProcess, type SpawnedProcess } from '../../../src/tools/exec.js';
import { tempDir } from '../../helpers/fs.js';

const WORKER = new URL('./fixtures/lock-worker.ts', import.meta.url).pathname;
const worker = (args: string[]): string[] => ['--import', 'tsx', WORKER, ...args];

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

async function holder(path: string, mode: 'shared' | 'exclusive', dir: string): Promise<SpawnedProcess> {
  const ready = join(dir, `ready-${Math.random().toString(36).slice(2)}`);
  const p = spawnProcess(process.execPath, worker(['hold', path, mode, ready]));
  await until(() => existsSync(ready), `the ${mode} holder`);
  return p;
}

/** Double holders in a log of "in|out MODE PID" lines: an exclusive holder beside anyone else. */
function violations(lines: string[]): { violations: number; acquisitions: number; maxShared: number } {
  const holding = new Map<string, string>();
  let bad = 0;
  let acquisitions = 0;
  let maxShared = 0;
  for (const line of lines) {
    const [what, mode, pid] = line.split(' ') as [string, string, string];
    if (what === 'in') {
      acquisitions++;
      const others = [...holding.values()];
      if (others.length && (mode === 'exclusive' || others.includes('exclusive'))) bad++;
      holding.set(pid, mode);
      maxShared = Math.max(maxShared, [...holding.values()].filter((m) => m === 'shared').length);
    } else holding.delete(pid);
  }
  return { violations: bad, acquisitions, maxShared };
}

describe('lock', () => {
  test('a second exclusive holder waits until the first releases; the lock file stays', async () => {
    const path = join(tempDir(), 'k.flock');
    const a = await acquireLock(path, { purpose: 'first' });
    let waitedFor: number | undefined;
    const order: string[] = [];
    const b = acquireLock(path, { pollMs: 10, onWait: (o) => (waitedFor = o?.pid) }).then((l) => {
      order.push('b');
      return l;
    });
    await delay(100);
    order.push('a-release');
    await a.release();
    const lb = await b;
    assert.equal(waitedFor, process.pid, 'the waiter is told who holds it');
    assert.deepEqual(order, ['a-release', 'b']);
    await lb.release();
    await lb.release(); // twice is fine
    assert.ok(existsSync(path), 'never deleted: deleting a lock file others have open breaks the lock');
  });

  test('timeout 0 is a try-lock; a timeout names the last exclusive holder', async () => {
    const path = join(tempDir(), 'k.flock');
    const a = await acquireLock(path);
    assert.equal(await acquireLock(path, { timeoutMs: 0 }), undefined);
    await assert.rejects(acquireLock(path, { timeoutMs: 50, pollMs: 10 }), new RegExp(`pid ${process.pid}`));
    await a.release();
    const again = await acquireLock(path, { timeoutMs: 0 });
    assert.ok(again);
    await again.release();
  });

  test('shared holders coexist; exclusive waits for all of them; downgrade keeps it held', async () => {
    const path = join(tempDir(), 'k.flock');
    const s1 = await acquireLock(path, { mode: 'shared' });
    const s2 = await acquireLock(path, { mode: 'shared', timeoutMs: 0 });
    assert.ok(s2, 'two shared holders at once');
    assert.equal(await acquireLock(path, { timeoutMs: 0 }), undefined, 'no exclusive beside shared');
    await s1.release();
    assert.equal(await acquireLock(path, { timeoutMs: 0 }), undefined, 'one shared holder is enough to keep exclusive out');
    await s2!.release();
    const x = await acquireLock(path, { timeoutMs: 0 });
    assert.ok(x);
    assert.equal(await acquireLock(path, { mode: 'shared', timeoutMs: 0 }), undefined, 'no shared beside exclusive');
    await x.downgrade();
    assert.equal(x.mode, 'shared');
    const s3 = await acquireLock(path, { mode: 'shared', timeoutMs: 0 });
    assert.ok(s3, 'shared allowed after the downgrade');
    assert.equal(await acquireLock(path, { timeoutMs: 0 }), undefined, 'still held: exclusive refused');
    await s3.release();
    await x.release();
  });

  test('abort while waiting', async () => {
    const path = join(tempDir(), 'k.flock');
    const a = await acquireLock(path);
    const ac = new AbortController();
    const p = acquireLock(path, { signal: ac.signal, pollMs: 10 });
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(p, { name: 'AbortedError' });
    await a.release();
  });

  test('SIGKILL of an exclusive holder: the lock is free at once (the kernel releases it)', async () => {
    const dir = tempDir();
    const path = join(dir, 'k.flock');
    const p = await holder(path, 'exclusive', dir);
    assert.equal(await acquireLock(path, { timeoutMs: 0 }), undefined, 'held by the other process');
    process.kill(p.pid!, 'SIGKILL');
    await p.exited;
    const t0 = Date.now();
    const l = await acquireLock(path, { timeoutMs: 0 });
    assert.ok(l, 'taken on the first try after the kill, with no stale-lock judgement');
    assert.ok(Date.now() - t0 < 1000);
    await l.release();
  });

  test('SIGKILL of a build holding a base shared: prune skips it while alive and removes it after', async () => {
    const dir = tempDir();
    const cache = new BaseCache(join(dir, 'cache'));
    const stage = await cache.stage('k1');
    (await import('node:fs')).writeFileSync(join(stage, 'y.img'), 'bytes');
    await cache.commit('k1', stage, { kind: 'download', name: 't', source: 's', file: 'y.img', format: 'raw', virtualSize: 5 });
    const p = await holder(cache.lockPath('k1'), 'shared', dir);
    const inUse: Lock = await cache.holdInUse('k1', { timeoutMs: 0 });
    const r1 = await cache.prune({ all: true });
    assert.deepEqual(r1.skipped.map((s) => s.key), ['k1']);
    assert.ok(existsSync(cache.entryDir('k1')));
    await inUse.release();
    assert.deepEqual((await cache.prune({ all: true })).skipped.map((s) => s.key), ['k1'], 'the other process still uses it');
    process.kill(p.pid!, 'SIGKILL');
    await p.exited;
    const r2 = await cache.prune({ all: true });
    assert.deepEqual(r2.removed.map((x) => x.key), ['k1']);
    assert.equal(existsSync(cache.entryDir('k1')), false);
  });

  test('contention trial: 6 contenders x 30 rounds after a SIGKILLed holder: 0 double holders', { timeout: 120_000 }, async (t) => {
    const dir = tempDir();
    const path = join(dir, 'k.flock');
    const log = join(dir, 'log');
    const waiting = join(dir, 'waiting');
    const first = await holder(path, 'exclusive', dir);
    const contenders = Array.from({ length: 6 }, () => run(process.execPath, worker(['contend', path, 'exclusive', log, '30', waiting]), { timeoutMs: 110_000 }));
    // All six are waiting on the held lock, then its holder dies: they race for it.
    await until(() => readdirSync(dir).filter((n) => n.startsWith('waiting.')).length === 6, 'six waiting contenders', 60_000);
    process.kill(first.pid!, 'SIGKILL');
    await Promise.all(contenders);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const v = violations(lines);
    t.diagnostic(`exclusive: ${v.acquisitions} acquisitions, ${v.violations} double holders`);
    assert.equal(v.acquisitions, 180);
    assert.equal(v.violations, 0);
  });

  test('mixed trial: 3 shared and 3 exclusive contenders x 15 rounds: no exclusive beside anyone', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const path = join(dir, 'k.flock');
    const log = join(dir, 'log');
    const modes = ['shared', 'exclusive', 'shared', 'exclusive', 'shared', 'exclusive'];
    await Promise.all(modes.map((m) => run(process.execPath, worker(['contend', path, m, log, '15']), { timeoutMs: 110_000 })));
    const v = violations(readFileSync(log, 'utf8').trim().split('\n'));
    assert.equal(v.acquisitions, 90);
    assert.equal(v.violations, 0);
  });
});
