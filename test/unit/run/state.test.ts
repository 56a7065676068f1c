// Instance state: the state file, liveness of the recorded run process (pid reuse included),
// taking a name (atomic, exit 2 when taken, stale directories replaced) and listing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exitCodeFor, describeError } from '../../../src/cli/exit-codes.js';
import { spawnProcess } from '../../../src/tools/exec.js';
import {
  assertNameFree,
  claimInstance,
  instancesRoot,
  isProcessAlive,
  killOrphanQemu,
  listInstances,
  parseStartTime,
  processStartTime,
  readState,
  writeState,
  type InstanceState,
} from '../../../src/run/state.js';
import { tempDir, waitFor } from '../../helpers/fs.js';

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

function state(name: string, over: Partial<InstanceState> = {}): InstanceState {
  const dir = `/nowhere/${name}`;
  return {
    name,
    image: '/img/base.qcow2',
    pid: process.pid,
    pidStartTime: processStartTime(process.pid),
    user: 'vexfs',
    key: `${dir}/id_ed25519`,
    knownHosts: `${dir}/known_hosts`,
    serialLog: `${dir}/serial.log`,
    startedAt: new Date().toISOString(),
    status: 'starting',
    ...over,
  };
}

test('instancesRoot is <cache dir>/instances', () => {
  assert.equal(instancesRoot('/c'), '/c/instances');
});

test('writeState/readState round-trip; the file is 0600; junk reads as no state', async () => {
  const dir = tempDir();
  const s = state('a', { qemuPid: 42, sshPort: 40022, status: 'ready', readyAt: new Date().toISOString() });
  await writeState(dir, s);
  assert.deepEqual(await readState(dir), s);
  assert.equal(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['state.json'], 'no temporary file left');
  writeFileSync(join(dir, 'state.json'), '{"name": 1}');
  assert.equal(await readState(dir), undefined);
  writeFileSync(join(dir, 'state.json'), 'not json');
  assert.equal(await readState(dir), undefined);
  assert.equal(await readState(join(dir, 'missing')), undefined);
});

test('parseStartTime reads field 22, even with spaces and parentheses in the command name', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  assert.equal(parseStartTime(`123 (a (b) c) ${fields.join(' ')}`), '22');
  assert.ok(/^\d+$/.test(processStartTime(process.pid) ?? ''), 'this process has a start time');
});

test('isProcessAlive: this process yes; a dead pid no; a reused pid (other start time) no', () => {
  assert.equal(isProcessAlive(process.pid), true);
  assert.equal(isProcessAlive(process.pid, processStartTime(process.pid)), true);
  assert.equal(isProcessAlive(process.pid, '1'), false, 'same pid, different process');
  assert.equal(isProcessAlive(deadPid()), false);
  assert.equal(isProcessAlive(0), false);
  assert.equal(isProcessAlive(-1), false);
});

describe('claimInstance', () => {
  test('creates <root>/NAME (0700) with state.json in it, the root included', async () => {
    const root = join(tempDir(), 'instances');
    const dir = await claimInstance(root, state('a'));
    assert.equal(dir, join(root, 'a'));
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal((await readState(dir))?.name, 'a');
    assert.deepEqual(readdirSync(root), ['a'], 'no temporary directory left');
  });

  test('a NAME whose run is alive: exit 2, says who runs it and what to do, nothing changed', async () => {
    const root = tempDir();
    await claimInstance(root, state('a', { image: '/img/first.qcow2' }));
    for (const attempt of [() => claimInstance(root, state('a', { image: '/img/second.qcow2' })), () => assertNameFree(root, 'a')]) {
      await assert.rejects(attempt(), (e: unknown) => {
        assert.equal(exitCodeFor(e), 2);
        assert.match(describeError(e), new RegExp(`^an instance named a is already running \\(pid ${process.pid}, /img/first\\.qcow2, started .*\\) \\(pick another name with --name, or stop that one: Ctrl-C in its terminal, or kill ${process.pid}\\)$`));
        return true;
      });
    }
    assert.equal((await readState(join(root, 'a')))?.image, '/img/first.qcow2');
    assert.deepEqual(readdirSync(root), ['a']);
  });

  test('a stale directory (its run is gone) is removed and reused', async () => {
    const root = tempDir();
    const dir = join(root, 'a');
    mkdirSync(dir);
    writeFileSync(join(dir, 'overlay.qcow2'), 'old');
    await writeState(dir, state('a', { pid: deadPid(), image: '/img/old.qcow2' }));
    await assertNameFree(root, 'a');
    const stale: Array<string | undefined> = [];
    await claimInstance(root, state('a'), { onStale: (_d, s) => stale.push(s?.image) });
    assert.deepEqual(stale, ['/img/old.qcow2']);
    assert.equal(existsSync(join(dir, 'overlay.qcow2')), false, 'the old overlay is gone');
    assert.equal((await readState(dir))?.pid, process.pid);
  });

  test('a directory without a readable state.json is stale too', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'a'));
    writeFileSync(join(root, 'a', 'junk'), 'x');
    await claimInstance(root, state('a'));
    assert.deepEqual(readdirSync(join(root, 'a')), ['state.json']);
  });

  test('two claims of one NAME at the same time: exactly one wins', async () => {
    const root = tempDir();
    const results = await Promise.allSettled([claimInstance(root, state('a')), claimInstance(root, state('a'))]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, JSON.stringify(results));
  });
});

test('killOrphanQemu kills the recorded QEMU only when its command line names the instance directory', async () => {
  const root = tempDir();
  const dir = join(root, 'a');
  // $0 of the shell is the overlay path, as on a QEMU command line.
  const mine = spawnProcess('sh', ['-c', 'sleep 60', `${dir}/overlay.qcow2`]);
  const other = spawnProcess('sh', ['-c', 'sleep 60', '/elsewhere/overlay.qcow2']);
  try {
    assert.equal(killOrphanQemu(dir, state('a', { qemuPid: other.pid })), false);
    assert.equal(other.isRunning(), true);
    assert.equal(killOrphanQemu(dir, state('a', { qemuPid: mine.pid })), true);
    assert.ok(await waitFor(() => !mine.isRunning(), 5000), 'the orphan is dead');
    assert.equal(killOrphanQemu(dir, state('a', { qemuPid: deadPid() })), false);
    assert.equal(killOrphanQemu(dir, undefined), false);
  } finally {
    await mine.stop(100);
    await other.stop(100);
  }
});

test('listInstances: every instance with its liveness, sorted; hidden and foreign directories skipped', async () => {
  const root = tempDir();
  await claimInstance(root, state('b'));
  mkdirSync(join(root, 'a'));
  await writeState(join(root, 'a'), state('a', { pid: deadPid() }));
  mkdirSync(join(root, '.c.123.tmp'));
  await writeState(join(root, '.c.123.tmp'), state('c'));
  mkdirSync(join(root, 'not-ours'));
  const list = await listInstances(root);
  assert.deepEqual(list.map((e) => [e.state.name, e.running]), [['a', false], ['b', true]]);
  assert.equal(list[1]!.dir, join(root, 'b'));
  assert.deepEqual(await listInstances(join(root, 'missing')), []);
});
