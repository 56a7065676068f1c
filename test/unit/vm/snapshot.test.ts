// The build VM's snapshots (src/vm/snapshot.ts, src/builder/warm-start.ts): what keys them, what
// is never used (corrupt, foreign, stale, a base that is gone), saving and its locks, and the
// QEMU arguments of a saved and a resumed machine. The resume itself boots a real VM:
// test/e2e/build.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { dropSnapshot, openSnapshot, saveSnapshot, snapshotDir, snapshotKey, SNAPSHOT_FORMAT } from '../../../src/vm/snapshot.js';
import { newSession, type VmSession } from '../../../src/vm/session.js';
import { profileFor } from '../../../src/vm/profile.js';
import { qemuArgs, type Vm } from '../../../src/tools/qemu.js';
import { acquireLock } from '../../../src/base/lock.js';
import { warmStartBlocker, warmStartKey } from '../../../src/builder/warm-start.js';
import { buildUserData, builderUserData } from '../../../src/builder/user-data.js';
import { resolveBuildPlan } from '../../../src/config/load.js';

/** A session whose "VM" writes a state file and records pause/resume (no QEMU). */
function fakeRunningSession(dir: string, base: string, events: string[], failSave = false): VmSession {
  const s = newSession({ name: 't', profile: profileFor('tcg', 2048, 2), dir, user: 'vexfs', seed: () => ({ userData: {}, metaData: { 'instance-id': 'i', 'local-hostname': 'h' } }), bootTimeoutMs: 1000, timeoutHint: '', network: 'full', cloudInitErrors: 'fail', powerOff: 'kill', killOnAbort: true });
  const file = (n: string, c: string): string => {
    writeFileSync(join(dir, n), c);
    return join(dir, n);
  };
  s.overlay = file('overlay.qcow2', 'overlay bytes');
  s.seedIso = file('seed.iso', 'seed bytes');
  s.backing = { path: base, format: 'qcow2' };
  s.instanceId = 'vexfs-build-1';
  s.ssh = { host: '127.0.0.1', port: 1, user: 'vexfs', key: { privateKeyPath: file('id_ed25519', 'PRIVATE'), publicKey: 'ssh-ed25519 AAAA test' } };
  s.vm = {
    saveState: async (f: string) => {
      events.push('save');
      if (failSave) throw new Error('migrate failed');
      writeFileSync(f, 'machine state');
    },
    resume: async () => {
      events.push('resume');
    },
  } as unknown as Vm;
  return s;
}

describe('build VM snapshots', () => {
  const cache = tempDir();
  const base = join(tempDir(), 'base.qcow2');
  writeFileSync(base, 'base');
  const key = snapshotKey({ base: 'b1' }, 'QEMU 7.2');

  test('the key: QEMU version and what made the VM', () => {
    assert.notEqual(snapshotKey({ base: 'b1' }, 'QEMU 8.0'), key);
    assert.notEqual(snapshotKey({ base: 'b2' }, 'QEMU 7.2'), key);
    assert.equal(snapshotKey({ base: 'b1' }, 'QEMU 7.2'), key);
  });

  test('nothing cached: not used, with why', async () => {
    const r = await openSnapshot(cache, key);
    assert.ok('why' in r && /no snapshot/.test(r.why));
  });

  test('saved: paused, written, resumed; every file recorded; the key 0600 in a 0700 directory; then resumable', async () => {
    const events: string[] = [];
    const s = fakeRunningSession(tempDir(), base, events);
    assert.equal(await saveSnapshot(s, cache, key), undefined);
    assert.deepEqual(events, ['save', 'resume']);
    const dir = snapshotDir(cache, key);
    assert.equal(statSync(join(dir, 'id_ed25519')).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    const entry = JSON.parse(readFileSync(join(dir, 'entry.json'), 'utf8'));
    assert.equal(entry.format, SNAPSHOT_FORMAT);
    assert.deepEqual(Object.keys(entry.files).sort(), ['disk.qcow2', 'id_ed25519', 'id_ed25519.pub', 'seed.iso', 'state']);
    const r = await openSnapshot(cache, key);
    assert.ok(!('why' in r));
    assert.equal(r.restore.instanceId, 'vexfs-build-1');
    assert.equal(r.restore.key.publicKey, 'ssh-ed25519 AAAA test');
    assert.equal(readFileSync(r.disk, 'utf8'), 'overlay bytes');
    assert.equal(readFileSync(r.restore.state, 'utf8'), 'machine state');
    // In use: neither replaced nor dropped, and a second save says so.
    assert.match((await saveSnapshot(fakeRunningSession(tempDir(), base, []), cache, key)) ?? '', /another build/);
    assert.equal(await dropSnapshot(cache, key), false);
    await r.lock.release();
  });

  test('a save that fails half-way resumes the VM and leaves the entry it found', async () => {
    const events: string[] = [];
    const before = readFileSync(join(snapshotDir(cache, key), 'entry.json'), 'utf8');
    await assert.rejects(saveSnapshot(fakeRunningSession(tempDir(), base, events, true), cache, key), /migrate failed/);
    assert.deepEqual(events, ['save', 'resume']);
    assert.equal(readFileSync(join(snapshotDir(cache, key), 'entry.json'), 'utf8'), before);
    assert.ok(!('why' in (await openSnapshot(cache, key).then(async (r) => ('lock' in r ? (await r.lock.release(), r) : r)))));
  });

  test('corrupt, foreign or stale entries are never used', async () => {
    const dir = snapshotDir(cache, key);
    const entryPath = join(dir, 'entry.json');
    const good = readFileSync(entryPath, 'utf8');
    const why = async (): Promise<string> => {
      const r = await openSnapshot(cache, key);
      if ('lock' in r) {
        await r.lock.release();
        return '';
      }
      return r.why;
    };
    // A flipped byte in the state, same size.
    const state = readFileSync(join(dir, 'state'));
    writeFileSync(join(dir, 'state'), Buffer.from(state.toString().replace('machine', 'mAchine')));
    assert.match(await why(), /state is not the one recorded/);
    writeFileSync(join(dir, 'state'), state);
    appendFileSync(join(dir, 'disk.qcow2'), 'x');
    assert.match(await why(), /disk.qcow2 is missing or not the size/);
    writeFileSync(join(dir, 'disk.qcow2'), 'overlay bytes');
    writeFileSync(entryPath, JSON.stringify({ ...JSON.parse(good), format: SNAPSHOT_FORMAT + 1 }));
    assert.match(await why(), /another format/);
    writeFileSync(entryPath, JSON.stringify({ ...JSON.parse(good), key: 'f'.repeat(64) }));
    assert.match(await why(), /another VM/);
    writeFileSync(entryPath, JSON.stringify({ ...JSON.parse(good), backing: join(cache, 'gone.qcow2') }));
    assert.match(await why(), /base .* is gone/);
    writeFileSync(entryPath, '{not json');
    assert.match(await why(), /no snapshot/);
    writeFileSync(entryPath, good);
    assert.equal(await why(), '');
    // Dropped when no build uses it.
    assert.equal(await dropSnapshot(cache, key), true);
    assert.ok(!existsSync(dir));
  });

  test('a reader holds the entry: no save replaces it under a running build', async () => {
    const k2 = snapshotKey({ base: 'b3' }, 'QEMU 7.2');
    assert.equal(await saveSnapshot(fakeRunningSession(tempDir(), base, []), cache, k2), undefined);
    const held = await acquireLock(join(cache, 'snapshots', '.locks', `${k2.slice(0, 32)}.flock`), { mode: 'shared' });
    assert.match((await saveSnapshot(fakeRunningSession(tempDir(), base, []), cache, k2)) ?? '', /another build/);
    await held.release();
  });
});

describe('warm starts of the build VM', () => {
  const plan = resolveBuildPlan({ variant: 'minimal' }, {}, tempDir());
  const profile = profileFor('tcg', 2048, 2);

  test('who is resumed: amd64, BIOS, packages in the base, not --no-snapshot', () => {
    assert.equal(warmStartBlocker(plan, profile), undefined);
    assert.match(warmStartBlocker({ ...plan, snapshot: false }, profile) ?? '', /--no-snapshot/);
    assert.match(warmStartBlocker({ ...plan, arch: 'arm64' }, profile) ?? '', /amd64/);
    assert.match(warmStartBlocker(plan, { firmware: 'uefi' }) ?? '', /UEFI/);
    assert.match(warmStartBlocker({ ...plan, preinstall: [] }, profile) ?? '', /--no-preinstall/);
  });

  test('the key follows the base, the machine and the seed, not the build (version, source)', () => {
    const k = warmStartKey(plan, profile, 'base1', 'QEMU 7.2');
    assert.equal(warmStartKey({ ...plan, version: '9.9.9', sourceDir: '/elsewhere' }, profile, 'base1', 'QEMU 7.2'), k);
    assert.notEqual(warmStartKey(plan, profile, 'base2', 'QEMU 7.2'), k);
    assert.notEqual(warmStartKey(plan, profileFor('tcg', 4096, 2), 'base1', 'QEMU 7.2'), k);
    assert.notEqual(warmStartKey(plan, profileFor('tcg', 2048, 1), 'base1', 'QEMU 7.2'), k);
    assert.notEqual(warmStartKey({ ...plan, diskSizeBytes: plan.diskSizeBytes * 2 }, profile, 'base1', 'QEMU 7.2'), k);
    assert.notEqual(warmStartKey({ ...plan, variantName: 'production' }, profile, 'base1', 'QEMU 7.2'), k, 'the hostname is the variant');
  });

  test("a snapshot's seed has none of a build's payload: no files but the build-time dpkg setting, no runcmd", () => {
    const generic = builderUserData(plan, 'ssh-ed25519 K') as { write_files: Array<{ path: string }>; runcmd?: unknown; users: Array<{ ssh_authorized_keys: string[] }> };
    assert.deepEqual(generic.write_files.map((f) => f.path), ['/etc/dpkg/dpkg.cfg.d/90-vexfs-image-build-unsafe-io']);
    assert.equal(generic.runcmd, undefined);
    assert.deepEqual(generic.users[0]!.ssh_authorized_keys, ['ssh-ed25519 K']);
    const cold = buildUserData(plan, 'ssh-ed25519 K', [{ path: '/etc/vexfs/vexfs.conf', content: 'x', permissions: '0644' }]) as { runcmd: string[][] };
    assert.deepEqual(cold.runcmd, [['systemctl', 'daemon-reload'], ['systemctl', 'enable', 'vexfs.service']]);
  });

  test('QEMU: a snapshotable machine has a vmgenid device; a resumed one loads its state (quoted for sh)', () => {
    const spec = { name: 'n', profile, drives: [{ file: '/o.qcow2', format: 'qcow2' as const }], serialLog: '/s', qmpSocket: '/q', vmgenid: true, incoming: "/cache/it's/state" };
    const a = qemuArgs(spec);
    assert.equal(a[a.indexOf('vmgenid,guid=auto') - 1], '-device');
    assert.equal(a[a.indexOf('-incoming') + 1], `exec:cat '/cache/it'\\''s/state'`);
    const cold = qemuArgs({ ...spec, vmgenid: undefined, incoming: undefined });
    assert.ok(!cold.includes('-incoming') && !cold.includes('vmgenid,guid=auto'));
  });
});
