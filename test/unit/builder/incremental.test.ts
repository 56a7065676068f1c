// The incremental build's cache entries (store.ts), who qualifies (index.ts), and what the
// install VM's console says (install-vm.ts). The whole path, with a real VM, is
// test/e2e/incremental.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { entryDir, entryKey, openEntry, recordEntry, ENTRY_FORMAT, type IncrementalEntry } from '../../../src/builder/incremental/store.js';
import { incrementalBlocker } from '../../../src/builder/incremental/index.js';
import { filesList, foundList, installOutcome } from '../../../src/builder/incremental/install-vm.js';
import { sha256Of } from '../../../src/tools/hash.js';
import { acquireLock } from '../../../src/base/lock.js';
import { DEFAULT_PAYLOAD } from '../../../src/config/payload.js';

const PARTS = { source: 'a'.repeat(64), config: 'c', payload: 'p', variant: 'v', version: '1', packages: 'k', tool: 't', guest: 'g' };

function entryFor(key: string, image: Buffer): IncrementalEntry {
  return {
    format: ENTRY_FORMAT,
    key,
    source: PARTS.source,
    image: { sha256: sha256Of(image), size: image.length },
    kernelRelease: '6.12.0-test',
    base: { path: '/base.qcow2', format: 'qcow2', digest: 'sha256:' + 'b'.repeat(64), source: 'debian' },
    guest: { kernel: '6.12.0-test', packageCount: 300 },
    supply: { dpkgStatus: 'Package: x\n' },
  };
}

test('an entry is keyed by every input but the source, the base and the architecture', () => {
  const k = entryKey(PARTS, 'b'.repeat(64), 'amd64');
  assert.equal(entryKey({ ...PARTS, source: 'other' }, 'b'.repeat(64), 'amd64'), k, 'another source: the same entry');
  for (const [field, value] of Object.entries({ config: 'c2', payload: 'p2', variant: 'v2', version: '2', packages: 'k2', tool: 't2', guest: 'g2' })) {
    assert.notEqual(entryKey({ ...PARTS, [field]: value }, 'b'.repeat(64), 'amd64'), k, `${field} changes the entry`);
  }
  assert.notEqual(entryKey(PARTS, 'c'.repeat(64), 'amd64'), k, 'another base');
  assert.notEqual(entryKey(PARTS, 'b'.repeat(64), 'arm64'), k, 'another architecture');
});

test('a recorded entry opens with a shared lock; its image is a hard link to the published one', async () => {
  const dir = tempDir();
  const image = Buffer.from('qcow2 image bytes');
  const published = join(dir, 'published.qcow2');
  writeFileSync(published, image);
  const key = entryKey(PARTS, 'b'.repeat(64), 'amd64');
  assert.equal(await recordEntry(join(dir, 'cache'), entryFor(key, image), published), true);
  assert.equal(statSync(join(entryDir(join(dir, 'cache'), key), 'image.qcow2')).ino, statSync(published).ino);
  const opened = await openEntry(join(dir, 'cache'), key);
  assert.ok(!('why' in opened), 'why' in opened ? opened.why : '');
  assert.equal(opened.entry.kernelRelease, '6.12.0-test');
  assert.equal(readFileSync(opened.image, 'utf8'), 'qcow2 image bytes');
  // While a build reads it, another build's record waits for next time instead of replacing it.
  assert.equal(await recordEntry(join(dir, 'cache'), entryFor(key, Buffer.from('newer')), published), false);
  await opened.lock.release();
  assert.equal(await recordEntry(join(dir, 'cache'), entryFor(key, image), published), true);
});

test('a corrupt, foreign, stale or missing entry is never used, and says why', async () => {
  const dir = tempDir();
  const cache = join(dir, 'cache');
  const image = Buffer.from('the image');
  const published = join(dir, 'published.qcow2');
  writeFileSync(published, image);
  const key = entryKey(PARTS, 'b'.repeat(64), 'amd64');
  const why = async (): Promise<string> => {
    const o = await openEntry(cache, key);
    if (!('why' in o)) {
      await o.lock.release();
      return 'used';
    }
    return o.why;
  };
  assert.match(await why(), /no earlier image/);
  await recordEntry(cache, entryFor(key, image), published);
  assert.equal(await why(), 'used');
  const json = join(entryDir(cache, key), 'entry.json');
  const good = readFileSync(json, 'utf8');
  writeFileSync(json, good.replace(`"key":"${key}"`, `"key":"${'f'.repeat(64)}"`));
  assert.match(await why(), /another format or other inputs/, 'a foreign entry');
  writeFileSync(json, good.replace(`"format":${ENTRY_FORMAT}`, '"format":0'));
  assert.match(await why(), /another format/, 'an older format');
  writeFileSync(json, '{"format":');
  assert.match(await why(), /no earlier image/, 'unreadable');
  writeFileSync(json, good);
  // The published image edited in place (same size): the hard-linked entry sees it, and refuses.
  writeFileSync(published, Buffer.from('THE image'));
  assert.match(await why(), /sha256 differs/);
  writeFileSync(published, Buffer.from('the image, longer'));
  assert.match(await why(), /not the size recorded/);
});

test('an interrupted record leaves the entry it found', async () => {
  const dir = tempDir();
  const cache = join(dir, 'cache');
  const image = Buffer.from('first');
  const published = join(dir, 'p.qcow2');
  writeFileSync(published, image);
  const key = entryKey(PARTS, 'b'.repeat(64), 'amd64');
  await recordEntry(cache, entryFor(key, image), published);
  // A record that fails half-way (its image does not exist): the old entry is still whole.
  await assert.rejects(recordEntry(cache, entryFor(key, Buffer.from('x')), join(dir, 'missing.qcow2')));
  const o = await openEntry(cache, key);
  assert.ok(!('why' in o), 'why' in o ? o.why : '');
  await o.lock.release();
});

test('an exclusive holder (a record in progress) keeps readers waiting, not reading half an entry', async () => {
  const dir = tempDir();
  const cache = join(dir, 'cache');
  const key = entryKey(PARTS, 'b'.repeat(64), 'amd64');
  const lock = await acquireLock(join(cache, 'incremental', '.locks', `${key.slice(0, 32)}.flock`), { mode: 'exclusive' });
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 400);
  await assert.rejects(openEntry(cache, key, { signal: ac.signal }));
  await lock.release();
});

test('who builds incrementally: amd64 on x86_64, as root, with the toolchain in the base; not development, signing or an install command', () => {
  const plan = { arch: 'amd64' as const, preinstall: ['build-essential'], variant: { keep_toolchain: false } as never, variantName: 'minimal', payload: DEFAULT_PAYLOAD };
  const host = { arch: 'x64', uid: 0 };
  const blocker = incrementalBlocker(plan, host);
  if (blocker && /not installed/.test(blocker)) return; // a host without busybox-static/debugfs
  assert.equal(blocker, undefined);
  assert.match(incrementalBlocker({ ...plan, arch: 'arm64' }, host)!, /amd64 images on an x86_64 host/);
  assert.match(incrementalBlocker(plan, { arch: 'arm64', uid: 0 })!, /x86_64 host/);
  assert.match(incrementalBlocker(plan, { arch: 'x64', uid: 1000 })!, /root/);
  assert.match(incrementalBlocker({ ...plan, preinstall: [] }, host)!, /toolchain/);
  assert.match(incrementalBlocker({ ...plan, variant: { keep_toolchain: true } as never, variantName: 'development' }, host)!, /development keeps the toolchain/);
  assert.match(incrementalBlocker({ ...plan, signing: {} as never }, host)!, /signed/);
  assert.match(incrementalBlocker({ ...plan, payload: { ...DEFAULT_PAYLOAD, installCommand: 'make install' } }, host)!, /install command/);
});

test('the install VM: its found list, and its console read for the result', () => {
  assert.equal(foundList([{ kind: 'module', name: 'vexfs', file: '/h/vexfs.ko' }, { kind: 'tool', name: 'vexctl', file: '/h/vexctl' }]), 'module\tvexfs\t/tmp/vexfs-image-payload/module-vexfs.ko\ntool\tvexctl\t/tmp/vexfs-image-payload/tool-vexctl');
  assert.deepEqual(installOutcome('[    1.0] booting\r\nincremental: root file system /dev/nvme0n1p3\r\n'), { done: false, results: {} });
  const console = ['==> installing', 'result.kernel=6.12.0-test\r', 'result.artifact_0=module\tvexfs\t/lib/x.ko\t10\tabc\tvm', 'INCR-RESULT 0\r', 'INCR-DONE\r', ''].join('\n');
  const o = installOutcome(console);
  assert.equal(o.rc, 0);
  assert.equal(o.done, true);
  assert.equal(o.results.kernel, '6.12.0-test');
  assert.equal(installOutcome('INCR-RESULT 1\nINCR-DONE\n').rc, 1);
});

test('the payload files the install VM writes: index, mode and path a line; paths must be absolute and one line', () => {
  assert.equal(filesList([{ path: '/etc/vexfs/vexfs.conf', content: 'x', permissions: '0644' }, { path: '/var/log/vexfs.log', content: '', permissions: '0640' }]), '0\t0644\t/etc/vexfs/vexfs.conf\n1\t0640\t/var/log/vexfs.log\n');
  assert.throws(() => filesList([{ path: 'relative', content: '', permissions: '0644' }]));
  assert.throws(() => filesList([{ path: '/a\nb', content: '', permissions: '0644' }]));
});
