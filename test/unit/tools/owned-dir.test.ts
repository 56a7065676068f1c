import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeOwnedDir, makeOwnedTempDir, ownerAlive, processStartTime, removeOrphans } from '../../../src/tools/owned-dir.js';
import { tempDir } from '../../helpers/fs.js';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

test('an owned temp dir is 0700 and records this process as its owner', async () => {
  const dir = await makeOwnedTempDir(tempDir(), 'x-');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(readFileSync(join(dir, 'owner'), 'utf8'), `${process.pid} ${processStartTime(process.pid)}\n`);
  assert.equal(await ownerAlive(dir), true);
});

test('removeOrphans removes matching dirs whose owner is gone, and nothing else', async () => {
  const parent = tempDir();
  const mine = await makeOwnedTempDir(parent, 'job-');
  const orphan = join(parent, 'job-orphan');
  mkdirSync(orphan);
  const pid = deadPid();
  writeFileSync(join(orphan, 'owner'), `${pid} 12345\n`);
  // The same pid alive but started at another time is a reused pid: still an orphan.
  const reused = join(parent, 'job-reused');
  mkdirSync(reused);
  writeFileSync(join(reused, 'owner'), `${process.pid} 1\n`);
  const noRecord = join(parent, 'job-no-owner-file');
  mkdirSync(noRecord);
  const otherName = join(parent, 'other-orphan');
  mkdirSync(otherName);
  writeFileSync(join(otherName, 'owner'), `${pid} 12345\n`);

  const removed = await removeOrphans(parent, (n) => n.startsWith('job-'));
  assert.deepEqual(removed.map((o) => o.dir).sort(), [orphan, reused].sort());
  assert.equal(removed.find((o) => o.dir === orphan)?.pid, pid);
  assert.ok(existsSync(mine) && existsSync(noRecord) && existsSync(otherName));
  assert.ok(!existsSync(orphan) && !existsSync(reused));
});

test('makeOwnedDir replaces what was at the path', async () => {
  const p = join(tempDir(), 'd');
  mkdirSync(p);
  writeFileSync(join(p, 'stale'), 'x');
  await makeOwnedDir(p);
  assert.ok(!existsSync(join(p, 'stale')));
  assert.equal(await ownerAlive(p), true);
});

test('a missing parent has no orphans', async () => {
  assert.deepEqual(await removeOrphans(join(tempDir(), 'nope'), () => true), []);
});
