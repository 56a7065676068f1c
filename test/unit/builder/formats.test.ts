// Cloud formats: --format parsing, file names, and each format really written by qemu-img/tar
// from a small qcow2 and read back (sizes rounded as the clouds require, checksummed by finalise).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFileName, gceTarArgs, parseImageFormats, roundUp, writeFormat, writeFormats } from '../../../src/builder/formats.js';
import { sha256File, sha256FileOffThread } from '../../../src/tools/hash.js';
import { which } from '../../../src/tools/host-tools.js';
import { convertImageArgs, formatFromName, imageInfo } from '../../../src/tools/qemu-img.js';
import { identifyImage, imageNames } from '../../../src/validate/discover.js';
import { tempDir } from '../../helpers/fs.js';

const MIB = 2 ** 20;

describe('--format', () => {
  test('qcow2 always, first; each format once, in a fixed order; comma-separated or repeated', () => {
    assert.deepEqual(parseImageFormats(undefined), ['qcow2']);
    assert.deepEqual(parseImageFormats(['gce,raw', 'vhd', 'raw']), ['qcow2', 'raw', 'vhd', 'gce']);
    assert.deepEqual(parseImageFormats(['qcow2,raw,vhd,vmdk,gce']), ['qcow2', 'raw', 'vhd', 'vmdk', 'gce']);
    assert.deepEqual(parseImageFormats([' VMDK ']), ['qcow2', 'vmdk']);
  });

  test('an unknown format is a usage error naming it and the known ones', () => {
    assert.throws(() => parseImageFormats(['raw,ova']), /--format: unknown image format "ova": give any of qcow2, raw, vhd, vmdk, gce/);
  });

  test('file names and tool arguments', () => {
    assert.equal(formatFileName('vexfs-minimal-1.0.0', 'gce'), 'vexfs-minimal-1.0.0.gce.tar.gz');
    assert.equal(formatFileName('vexfs-minimal-1.0.0', 'vhd'), 'vexfs-minimal-1.0.0.vhd');
    assert.deepEqual(gceTarArgs('/o/x.gce.tar.gz', '/t'), ['--format=gnu', '-S', '-czf', '/o/x.gce.tar.gz', '-C', '/t', 'disk.raw']);
    assert.deepEqual(gceTarArgs('/o/x.gce.tar.gz', '/t', true), ['--format=gnu', '-S', '--use-compress-program=pigz', '-cf', '/o/x.gce.tar.gz', '-C', '/t', 'disk.raw']);
    assert.deepEqual(convertImageArgs('/a.qcow2', '/a.vhd', { sourceFormat: 'qcow2', outputFormat: 'vpc', options: ['subformat=fixed', 'force_size=on'] }), [
      'convert', '-f', 'qcow2', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', '/a.qcow2', '/a.vhd',
    ]);
    assert.equal(roundUp(MIB + 1, MIB), 2 * MIB);
    assert.equal(roundUp(MIB, MIB), MIB);
  });
});

describe('validate finds the formats by extension', () => {
  test('names keep a non-qcow2 extension; identity and the digest come from the one manifest', () => {
    assert.deepEqual(imageNames('/i/vexfs-minimal-1.0.0.qcow2'), { stem: 'vexfs-minimal-1.0.0', name: 'vexfs-minimal-1.0.0' });
    assert.deepEqual(imageNames('/i/vexfs-minimal-1.0.0.vhd'), { stem: 'vexfs-minimal-1.0.0', name: 'vexfs-minimal-1.0.0.vhd' });
    assert.equal(formatFromName('/i/x.vhd'), 'vpc', 'a fixed VHD probes as raw: its format is always given');
    assert.equal(formatFromName('/i/x.vmdk'), 'vmdk');
    const dir = tempDir();
    writeFileSync(
      join(dir, 'vexfs-minimal-1.0.0.json'),
      JSON.stringify({ variant: 'minimal', version: '1.0.0', files: { image: { name: 'vexfs-minimal-1.0.0.qcow2', sha256: 'a'.repeat(64) }, formats: [{ name: 'vexfs-minimal-1.0.0.vhd', sha256: 'b'.repeat(64) }] } }),
    );
    const t = identifyImage(join(dir, 'vexfs-minimal-1.0.0.vhd'));
    assert.equal(t.identitySource, 'manifest');
    assert.equal(t.variant, 'minimal');
    assert.equal(t.manifestSha256, 'b'.repeat(64));
    assert.equal(identifyImage(join(dir, 'vexfs-minimal-1.0.0.qcow2')).manifestSha256, 'a'.repeat(64));
    assert.equal(identifyImage(join(dir, 'vexfs-minimal-1.0.0.raw')).manifestSha256, undefined, 'no digest recorded for it');
  });
});

const tools = which('qemu-img') && which('tar');
describe('writeFormat (real qemu-img and tar)', { skip: tools ? false : 'needs qemu-img and tar' }, () => {
  // 100 MiB + 512 bytes: neither a whole MiB (Azure) nor a whole GiB (GCE).
  const virtualSize = 100 * MIB + 512;
  const dir = tempDir();
  const qcow2 = join(dir, 'x.qcow2');
  const seed = join(dir, 'seed.raw');
  writeFileSync(seed, Buffer.alloc(virtualSize, 0));
  writeFileSync(seed, Buffer.from('not all zeros'), { flag: 'r+' });
  assert.equal(spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', seed, qcow2]).status, 0);
  const o = { qcow2, dir, imageName: 'x', virtualSize };

  test('raw: the disk\'s bytes, as qemu-img reads it', async () => {
    const f = await writeFormat('raw', o);
    assert.equal(f.size, virtualSize);
    assert.equal((await imageInfo(f.path, {}, 'raw')).virtualSize, virtualSize);
  });

  test('vhd: fixed, virtual size rounded up to 1 MiB, the disk plus a 512-byte footer', async () => {
    const f = await writeFormat('vhd', o);
    assert.equal(f.virtualSize, 101 * MIB);
    assert.equal(statSync(f.path).size, 101 * MIB + 512);
    const info = await imageInfo(f.path, {}, 'vpc');
    assert.equal(info.virtualSize, 101 * MIB);
    const r = spawnSync('qemu-img', ['info', '--output=json', '-f', 'vpc', f.path], { encoding: 'utf8' });
    assert.match(r.stdout, /"subformat": "fixed"|"format": "vpc"/);
  });

  test('vmdk: streamOptimized, passes qemu-img check', async () => {
    const f = await writeFormat('vmdk', o);
    const r = spawnSync('qemu-img', ['info', '--output=json', '-f', 'vmdk', f.path], { encoding: 'utf8' });
    assert.match(r.stdout, /"create-type": "streamOptimized"/);
    assert.equal(f.virtualSize, virtualSize);
  });

  test('gce: a GNU tar.gz holding disk.raw alone, a whole number of GiB', async () => {
    const f = await writeFormat('gce', o);
    assert.equal(f.virtualSize, 2 ** 30);
    const list = spawnSync('tar', ['--list', '--verbose', '-zf', f.path], { encoding: 'utf8' });
    assert.match(list.stdout.trim(), /^-\S+ \S+ +1073741824 .* disk\.raw$/);
    const head = spawnSync('sh', ['-c', `gzip -dc '${f.path}' | head -c 512 | tail -c 255 | head -c 8`], { encoding: 'latin1' });
    assert.equal(head.stdout, 'ustar  \0', 'GNU tar magic');
  });

  test('writeFormats: every format with a .sha256 that sha256sum -c accepts, in the order asked, hashed off the main thread', async () => {
    const out = join(dir, 'all');
    mkdirSync(out);
    const seen: string[] = [];
    const files = await writeFormats(['qcow2', 'raw', 'vhd', 'vmdk', 'gce'], { ...o, dir: out, onWritten: (f) => seen.push(f.format) });
    assert.deepEqual(files.map((f) => f.format), ['raw', 'vhd', 'vmdk', 'gce']);
    assert.deepEqual([...seen].sort(), ['gce', 'raw', 'vhd', 'vmdk']);
    for (const f of files) {
      assert.equal(f.sha256, await sha256File(f.path), f.name);
      const r = spawnSync('sha256sum', ['-c', `${f.name}.sha256`], { cwd: out, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stdout + r.stderr);
    }
  });

  test('writeFormats: a conversion that fails still lets the hashes already started finish, then throws its own error', async () => {
    const out = join(dir, 'fail');
    mkdirSync(out);
    // raw converts; vhd then finds its source missing (the qcow2 path is wrong for it only).
    let calls = 0;
    const bad = { ...o, dir: out, get qcow2() { return calls++ === 0 ? qcow2 : join(dir, 'missing.qcow2'); } };
    await assert.rejects(writeFormats(['raw', 'vhd'], bad), /missing\.qcow2/);
    assert.ok(statSync(join(out, 'x.raw.sha256')).size > 64, 'the raw file\'s hash was finished and written');
  });
});

test('sha256FileOffThread: the same digest as on the main thread; abort ends the worker', async () => {
  const dir = tempDir();
  const f = join(dir, 'f');
  writeFileSync(f, Buffer.alloc(3 * 2 ** 20 + 7, 7));
  assert.equal(await sha256FileOffThread(f), await sha256File(f));
  const ac = new AbortController();
  const p = sha256FileOffThread(f, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  await assert.rejects(sha256FileOffThread(join(dir, 'nope')), /ENOENT|exited/);
});

