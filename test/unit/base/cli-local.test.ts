// `vexfs-image base --distro PATH` and `cache list|prune` through commander, plus the local-image checks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../../../src/cli/program.js';
import type { CliContext } from '../../../src/cli/context.js';
import { register as registerBase, progressLine } from '../../../src/cli/commands/base.js';
import { register as registerCache, parseAge } from '../../../src/cli/commands/cache.js';
import { inspectLocalImage } from '../../../src/base/local.js';
import { resolveBase } from '../../../src/base/index.js';
import { UsageError } from '../../../src/errors.js';
import { run } from '../../../src/tools/exec.js';
import { tempDir } from '../../helpers/fs.js';

async function cli(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (b: Buffer) => (stdout += b.toString()));
  err.on('data', (b: Buffer) => (stderr += b.toString()));
  const ctx: CliContext = { signal: new AbortController().signal, env: {}, stdout: out, stderr: err as unknown as NodeJS.WriteStream, setOutcome: () => undefined };
  await buildProgram(ctx, [registerBase, registerCache]).parseAsync(['node', 'vexfs-image', ...args]);
  return { stdout, stderr };
}

describe('local base images', () => {
  test('a qcow2 is reported with format and virtual size and never modified', async () => {
    const dir = tempDir();
    const img = join(dir, 'mine.qcow2');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
    const before = { bytes: readFileSync(img), mtime: statSync(img).mtimeMs };
    const { stdout, stderr } = await cli(['base', '--distro', img, '--json', '--cache-dir', join(dir, 'cache')]);
    const r = JSON.parse(stdout) as { path: string; format: string; virtualSize: number; kind: string; digest: string };
    assert.equal(r.path, img);
    assert.equal(r.format, 'qcow2');
    assert.equal(r.virtualSize, 64 * 1024 * 1024);
    assert.equal(r.kind, 'local');
    assert.match(r.digest, /^sha256:[0-9a-f]{64}$/);
    assert.match(stderr, /local file, qcow2, virtual size 64\.0 MiB/);
    assert.deepEqual(readFileSync(img), before.bytes);
    assert.equal(statSync(img).mtimeMs, before.mtime);
    const plain = await cli(['-q', 'base', '--distro', img]);
    assert.equal(plain.stdout, `${img}\n`);
  });

  test('a raw disk with a boot signature is accepted; a text file or a missing file is not', async () => {
    const dir = tempDir();
    const raw = join(dir, 'disk.img');
    const b = Buffer.alloc(1024 * 1024);
    b[510] = 0x55;
    b[511] = 0xaa;
    writeFileSync(raw, b);
    assert.equal((await inspectLocalImage(raw)).format, 'raw');
    const txt = join(dir, 'notes.txt');
    writeFileSync(txt, 'hello\n');
    await assert.rejects(inspectLocalImage(txt), (e: unknown) => e instanceof UsageError && /not a disk image/.test(e.message));
    await assert.rejects(resolveBase(join(dir, 'nope.qcow2'), { cacheDir: dir }), (e: unknown) => e instanceof UsageError && /does not exist/.test(e.message));
  });
});

describe('cache commands', () => {
  test('list on an empty cache, prune with nothing to do', async () => {
    const dir = tempDir();
    assert.match((await cli(['cache', 'list', '--cache-dir', dir])).stdout, /no cached base images/);
    assert.deepEqual(JSON.parse((await cli(['cache', 'list', '--json', '--cache-dir', dir])).stdout), []);
    assert.match((await cli(['cache', 'prune', '--all', '--cache-dir', dir])).stdout, /removed 0 item/);
  });

  test('option parsers and progress lines', () => {
    assert.equal(parseAge('30d'), 30 * 86_400_000);
    assert.equal(parseAge('12h'), 12 * 3_600_000);
    assert.equal(parseAge('7'), 7 * 86_400_000);
    assert.throws(() => parseAge('soon'));
    assert.equal(progressLine({ url: 'u', received: 512 * 1024, total: 1024 * 1024, resumedFrom: 0, attempt: 1, done: false }), 'downloading 50% 512.0 KiB / 1.0 MiB');
  });
});
