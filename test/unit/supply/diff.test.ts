// `vexfs-image diff` on small real ext4 images made with mke2fs -d (no VM): one a bare file
// system in a raw file, one a partitioned disk converted to qcow2 — the two layouts openImage
// handles — with known differences between them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';
import { makeExt4 } from '../../../src/tools/mke2fs.js';
import { partitionImage } from '../../../src/tools/sfdisk.js';
import { run } from '../../../src/tools/exec.js';
import { diffImages, diffText } from '../../../src/supply/diff.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const status = (pkgs: Array<[string, string]>): string => pkgs.map(([n, v]) => `Package: ${n}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${v}\n`).join('\n');
const module = (vermagic: string): Buffer => Buffer.concat([Buffer.from('\x7fELF....'), Buffer.from(`\0license=GPL\0vermagic=${vermagic}\0name=vexfs\0`)]);

function tree(dir: string, v: { hostname: string; toolMode: number; extra?: boolean; old?: boolean; libc: string; vermagic: string; link: string }): string {
  for (const d of ['etc', 'usr/bin', 'var/lib/dpkg', 'usr/lib/modules/6.12.1/updates']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'etc/hostname'), v.hostname);
  writeFileSync(join(dir, 'usr/bin/tool'), '#!/bin/sh\necho tool\n');
  chmodSync(join(dir, 'usr/bin/tool'), v.toolMode);
  if (v.extra) writeFileSync(join(dir, 'etc/extra.conf'), 'x=1\n');
  if (v.old) writeFileSync(join(dir, 'etc/old.conf'), 'y=2\n');
  writeFileSync(join(dir, 'var/lib/dpkg/status'), status([['libc6', v.libc], ['dpkg', '1.22.21']]));
  writeFileSync(join(dir, 'usr/lib/modules/6.12.1/updates/vexfs.ko'), module(v.vermagic));
  symlinkSync(v.link, join(dir, 'usr/bin/link'));
  return dir;
}

const A = { hostname: 'aaaa\n', toolMode: 0o755, old: true, libc: '2.41-12', vermagic: '6.12.1 SMP mod_unload', link: 'tool' };
const B = { hostname: 'bbbb\n', toolMode: 0o700, extra: true, libc: '2.41-13', vermagic: '6.12.2 SMP mod_unload', link: 'other' };

/** A bare ext4 file system in a raw file. */
async function bareImage(dir: string, name: string, content: string): Promise<string> {
  const img = join(dir, `${name}.raw`);
  await makeExt4({ image: img, dir: content, label: 'root', size: 8192 });
  return img;
}

/** A partitioned disk (the file system at 1 MiB, as in real images), converted to qcow2. */
async function partitionedQcow2(dir: string, name: string, content: string): Promise<string> {
  const raw = join(dir, `${name}.disk`);
  writeFileSync(raw, '');
  truncateSync(raw, 16 * 2 ** 20);
  await partitionImage(raw, 'label: dos\nstart=2048, type=83\n');
  await makeExt4({ image: raw, dir: content, label: 'root', offsetBytes: 2048 * 512, size: 14 * 1024 });
  const qcow2 = join(dir, `${name}.qcow2`);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]);
  return qcow2;
}

test('diff: files, modes, symlinks, packages and vermagic between a raw and a qcow2 image', async () => {
  const dir = tempDir();
  const a = await bareImage(dir, 'a', tree(join(dir, 'ta'), A));
  const b = await partitionedQcow2(dir, 'b', tree(join(dir, 'tb'), B));
  const d = await diffImages(a, b, { tmpDir: join(dir, 'tmp') });
  assert.equal(d.same, false);
  const byPath = Object.fromEntries(d.files.map((f) => [f.path, f.changes]));
  assert.deepEqual(byPath, {
    '/etc/extra.conf': ['added'],
    '/etc/hostname': ['content'],
    '/etc/old.conf': ['removed'],
    '/usr/bin/link': ['target'],
    '/usr/bin/tool': ['mode'],
    '/usr/lib/modules/6.12.1/updates/vexfs.ko': ['content'],
    '/var/lib/dpkg/status': ['content'],
  });
  assert.deepEqual(d.packages, [{ name: 'libc6:amd64', a: '2.41-12', b: '2.41-13' }]);
  assert.deepEqual(d.modules, [{ path: '/usr/lib/modules/6.12.1/updates/vexfs.ko', a: '6.12.1 SMP mod_unload', b: '6.12.2 SMP mod_unload' }]);
  const text = diffText(d);
  assert.match(text, /^mode +\/usr\/bin\/tool +\(file 0755 0:0 .* => file 0700 0:0 /m);
  assert.match(text, /^package +libc6:amd64: 2\.41-12 => 2\.41-13$/m);
  assert.match(text, /^7 files, 1 packages, 1 modules differ/m);
});

test('diff: the same tree in two layouts is the same; --times tells mtimes apart', async () => {
  const dir = tempDir();
  const content = tree(join(dir, 't'), A);
  const a = await bareImage(dir, 'a', content);
  const b = await partitionedQcow2(dir, 'b', content);
  const d = await diffImages(a, b, { tmpDir: join(dir, 'tmp') });
  assert.equal(d.same, true, diffText(d));
  assert.ok(d.entries >= 12, `${d.entries} entries`);
  // The same content with a newer mtime on one file.
  const later = tree(join(dir, 't2'), A);
  spawnSync('touch', ['-d', '2030-01-01', join(later, 'etc/hostname')]);
  const c = await bareImage(dir, 'c', later);
  assert.equal((await diffImages(a, c, { tmpDir: join(dir, 'tmp') })).same, true);
  const timed = await diffImages(a, c, { tmpDir: join(dir, 'tmp'), times: true });
  assert.ok(timed.files.some((f) => f.path === '/etc/hostname' && f.changes.includes('mtime')), diffText(timed));
});

test('vexfs-image diff: exit 0 same, 1 differ, 2 bad input (one line, nothing left behind)', async () => {
  const dir = tempDir();
  const a = await bareImage(dir, 'a', tree(join(dir, 'ta'), A));
  const b = await bareImage(dir, 'b', tree(join(dir, 'tb'), B));
  const tmp = join(dir, 'tmp');
  const cli = (...args: string[]) => spawnSync(BIN, ['diff', ...args, '--tmp-dir', tmp], { encoding: 'utf8' });
  assert.equal(cli(a, a).status, 0);
  const r = cli(a, b, '--json');
  assert.equal(r.status, 1, r.stderr);
  assert.equal(JSON.parse(r.stdout).packages[0].name, 'libc6:amd64');
  const notImage = join(dir, 'text.raw');
  writeFileSync(notImage, 'not a disk\n'.repeat(1000));
  for (const [args, re] of [[[a, join(dir, 'missing.qcow2')], /does not exist/], [[a, notImage], /no ext2\/3\/4 root file system/], [[a], /missing required argument/]] as Array<[string[], RegExp]>) {
    const bad = cli(...args);
    assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`);
    assert.match(bad.stderr, re);
    assert.equal(bad.stderr.trim().split('\n').filter((l) => !l.startsWith('hint:')).length, 1, bad.stderr);
  }
  assert.deepEqual(spawnSync('ls', ['-A', tmp], { encoding: 'utf8' }).stdout.trim(), '', 'work directories removed');
});
