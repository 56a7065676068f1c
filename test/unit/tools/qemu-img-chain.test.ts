// checkImageChain against images made here with the real qemu-img: every file a chain names must
// be a plain file in the image's own directory or the cache, with a recorded format; nothing
// else is ever opened (a protocol backing file is refused before qemu-img could connect to it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { checkImageChain, formatFromName, qemuPathProblem } from '../../../src/tools/qemu-img.js';
import { inspectLocalImage } from '../../../src/base/local.js';
import { UsageError } from '../../../src/errors.js';
import { run } from '../../../src/tools/exec.js';
import { tempDir } from '../../helpers/fs.js';

const qimg = (...args: string[]): Promise<unknown> => run('qemu-img', args);
/** An overlay whose backing name is written as given, without qemu-img opening it (-u). */
const overlay = (file: string, backing: string, fmt = 'qcow2'): Promise<unknown> => qimg('create', '-q', '-f', 'qcow2', '-u', '-F', fmt, '-b', backing, file, '64M');

async function refused(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    assert.match(e.message, re);
    return true;
  });
}

let dir = '';
let connections = 0;
let nbd: net.Server;
let nbdPort = 0;

before(async () => {
  dir = tempDir();
  nbd = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => nbd.listen(0, '127.0.0.1', r));
  nbdPort = (nbd.address() as AddressInfo).port;
});
after(() => nbd.close());

describe('checkImageChain', () => {
  test('a good chain inside the directory: top, relative middle, base; formats explicit', async () => {
    const d = join(dir, 'good');
    mkdirSync(join(d, 'sub'), { recursive: true });
    await qimg('create', '-q', '-f', 'raw', join(d, 'sub', 'base.img'), '64M');
    await overlay(join(d, 'sub', 'mid.qcow2'), 'base.img', 'raw');
    await overlay(join(d, 'top.qcow2'), 'sub/mid.qcow2');
    const r = await checkImageChain(join(d, 'top.qcow2'));
    assert.deepEqual(r.chain, [
      { path: join(d, 'top.qcow2'), format: 'qcow2' },
      { path: join(d, 'sub', 'mid.qcow2'), format: 'qcow2' },
      { path: join(d, 'sub', 'base.img'), format: 'raw' },
    ]);
    assert.equal(r.format, 'qcow2');
    assert.equal(r.virtualSize, 64 * 2 ** 20);
  });

  test('backing file /etc/shadow: refused', async () => {
    await overlay(join(dir, 'shadow.qcow2'), '/etc/shadow', 'raw');
    await refused(checkImageChain(join(dir, 'shadow.qcow2')), /backing file \/etc\/shadow, outside .*guest read it/);
  });

  test('a json: backing file name: refused', async () => {
    await overlay(join(dir, 'json.qcow2'), 'json:{"driver":"raw","file":{"driver":"file","filename":"/etc/shadow"}}', 'raw');
    await refused(checkImageChain(join(dir, 'json.qcow2')), /json: or protocol name/);
  });

  test('an nbd:// backing file: refused without qemu-img ever connecting', async () => {
    await overlay(join(dir, 'nbd.qcow2'), `nbd://127.0.0.1:${nbdPort}/x`, 'raw');
    await refused(checkImageChain(join(dir, 'nbd.qcow2')), /json: or protocol name/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(connections, 0);
  });

  test('a relative ../x backing file: refused', async () => {
    const d = join(dir, 'rel', 'img');
    mkdirSync(d, { recursive: true });
    await qimg('create', '-q', '-f', 'qcow2', join(dir, 'rel', 'x'), '64M');
    await overlay(join(d, 'top.qcow2'), '../x');
    await refused(checkImageChain(join(d, 'top.qcow2')), new RegExp(`backing file ${join(dir, 'rel', 'x')}, outside`));
  });

  test('a symlink in the directory pointing at a host file: refused (symlinks resolved)', async () => {
    const d = join(dir, 'link');
    mkdirSync(d);
    symlinkSync('/etc/hostname', join(d, 'base.raw'));
    await overlay(join(d, 'top.qcow2'), 'base.raw', 'raw');
    await refused(checkImageChain(join(d, 'top.qcow2')), /backing file \/etc\/hostname, outside/);
  });

  test('a backing file in the cache dir is accepted only when the cache dir is given', async () => {
    const cache = join(dir, 'cache');
    const imgs = join(dir, 'images');
    mkdirSync(join(cache, 'bases', 'k'), { recursive: true });
    mkdirSync(imgs);
    await qimg('create', '-q', '-f', 'qcow2', join(cache, 'bases', 'k', 'base.qcow2'), '64M');
    await overlay(join(imgs, 'top.qcow2'), join(cache, 'bases', 'k', 'base.qcow2'));
    assert.equal((await checkImageChain(join(imgs, 'top.qcow2'), { cacheDir: cache })).chain.length, 2);
    await refused(checkImageChain(join(imgs, 'top.qcow2')), /outside/);
  });

  test('a text file named .qcow2 is not taken for a disk (the name says qcow2: -f qcow2, no probing)', async () => {
    writeFileSync(join(dir, 'notes.qcow2'), 'hello, this is text\n');
    await refused(checkImageChain(join(dir, 'notes.qcow2')), /is not a qcow2 image qemu-img can read \(its name says qcow2\)/);
    // A raw disk renamed .qcow2 likewise.
    await qimg('create', '-q', '-f', 'raw', join(dir, 'rawdisk.qcow2'), '1M');
    await refused(checkImageChain(join(dir, 'rawdisk.qcow2')), /not a qcow2 image/);
  });

  test('a backing file without a recorded format (QEMU would probe it): refused', async () => {
    await qimg('create', '-q', '-f', 'qcow2', join(dir, 'plain.qcow2'), '64M');
    await overlay(join(dir, 'nofmt.qcow2'), 'plain.qcow2');
    // Hide the backing-format header extension (0xe2792aca): QEMU ignores unknown extensions.
    const b = readFileSync(join(dir, 'nofmt.qcow2'));
    const i = b.indexOf(Buffer.from('e2792aca', 'hex'));
    assert.ok(i > 0 && i < 4096);
    Buffer.from('0badf00d', 'hex').copy(b, i);
    writeFileSync(join(dir, 'nofmt.qcow2'), b);
    await refused(checkImageChain(join(dir, 'nofmt.qcow2')), /has no recorded format/);
  });

  test('a qcow2 external data file outside the directory: refused', async () => {
    const d = join(dir, 'df');
    mkdirSync(d);
    await qimg('create', '-q', '-f', 'qcow2', '-o', `data_file=${join(dir, 'outside-data.raw')}`, join(d, 'top.qcow2'), '1M');
    await refused(checkImageChain(join(d, 'top.qcow2')), /refers to .*outside-data\.raw, outside/);
  });

  test('a vmdk whose extent is a host file: refused', async () => {
    const d = join(dir, 'vmdk');
    mkdirSync(d);
    writeFileSync(join(d, 'evil.vmdk'), '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2 FLAT "/etc/hostname" 0\n');
    await refused(checkImageChain(join(d, 'evil.vmdk')), /refers to \/etc\/hostname, outside/);
  });

  test('a loop in the chain: refused', async () => {
    const d = join(dir, 'loop');
    mkdirSync(d);
    await overlay(join(d, 'a.qcow2'), 'b.qcow2');
    await overlay(join(d, 'b.qcow2'), 'a.qcow2');
    await refused(checkImageChain(join(d, 'a.qcow2')), /loops through/);
  });

  test('paths with QEMU option syntax: refused before anything runs', async () => {
    await refused(checkImageChain(join(dir, 'a,file.locking=off.qcow2')), /cannot be given to QEMU because it contains ','/);
    assert.match(qemuPathProblem('nbd:127.0.0.1:1') ?? '', /protocol/);
    assert.match(qemuPathProblem('/a/b\nc') ?? '', /control character/);
    assert.equal(qemuPathProblem('/srv/images/x:y.qcow2'), undefined, 'a colon after the first / is a plain file name');
  });

  test('a backing file name with a comma: refused', async () => {
    const d = join(dir, 'comma');
    mkdirSync(d);
    await qimg('create', '-q', '-f', 'qcow2', join(d, 'b,x.qcow2'), '64M');
    await overlay(join(d, 'top.qcow2'), 'b,x.qcow2');
    await refused(checkImageChain(join(d, 'top.qcow2')), /json: or protocol name|contains ','/);
  });

  test('formatFromName: extensions that claim a format; .img is probed', () => {
    assert.equal(formatFromName('/x/a.QCOW2'), 'qcow2');
    assert.equal(formatFromName('/x/a.raw'), 'raw');
    assert.equal(formatFromName('/x/noble.img'), undefined);
  });

  test('wired into local bases (build --base PATH, base --distro PATH): a /etc/shadow-backed qcow2 is refused', async () => {
    await refused(inspectLocalImage(join(dir, 'shadow.qcow2'), { cacheDir: join(dir, 'cache') }), /\/etc\/shadow, outside/);
    const ok = await inspectLocalImage(join(dir, 'good', 'top.qcow2'));
    assert.equal(ok.chain.length, 3);
  });
});
