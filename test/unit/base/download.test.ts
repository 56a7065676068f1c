// Download paths against a local HTTP server started by the test, serving a disk image made
// here: success, checksum mismatch, 404, truncated response, connection dropped mid-body,
// a server that ignores Range, and the cache reuse that follows a verified download.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { resolveBase } from '../../../src/base/index.js';
import { BaseCache } from '../../../src/base/cache.js';
import { ChecksumMismatchError, DownloadError, downloadToFile, fetchText, type DownloadProgress } from '../../../src/base/download.js';
import { run } from '../../../src/tools/exec.js';
import { tempDir } from '../../helpers/fs.js';

type Behaviour = 'ok' | 'truncate-once' | 'drop-once' | 'no-range' | 'always-drop' | 'slow-5xx-once';

let server: http.Server;
let base = '';
let image: Buffer;
let digest = '';
const BEHAVIOURS: readonly string[] = ['ok', 'truncate-once', 'drop-once', 'no-range', 'always-drop', 'slow-5xx-once'];
const requests: Array<{ path: string; range?: string }> = [];
const failedOnce = new Set<string>();

before(async () => {
  const dir = tempDir();
  const raw = join(dir, 'disk.raw');
  // A small but real disk image with data in it, so it spans many chunks.
  const data = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i * 2654435761 >>> 0, i);
  data[510] = 0x55;
  data[511] = 0xaa;
  writeFileSync(raw, data);
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, join(dir, 'disk.qcow2')]);
  image = readFileSync(join(dir, 'disk.qcow2'));
  digest = createHash('sha256').update(image).digest('hex');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const range = req.headers.range;
    requests.push({ path: url.pathname, range });
    const m = /^\/(\w[\w-]*)\/(.+)$/.exec(url.pathname);
    const beh: Behaviour = m && BEHAVIOURS.includes(m[1]!) ? (m[1] as Behaviour) : 'ok';
    const file = m?.[2];
    if (file === 'SHA256SUMS') {
      const wrong = m?.[1] === 'mismatch';
      res.end(`${wrong ? 'ff'.repeat(32) : digest} *disk.qcow2\n${'00'.repeat(32)} *other.img\n`);
      return;
    }
    if (file !== 'disk.qcow2') {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    if (beh === 'slow-5xx-once' && !failedOnce.has(m![1]!)) {
      failedOnce.add(m![1]!);
      res.statusCode = 503;
      res.end();
      return;
    }
    let start = 0;
    const r = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (r && beh !== 'no-range') {
      start = Number(r[1]);
      res.statusCode = 206;
      res.setHeader('content-range', `bytes ${start}-${image.length - 1}/${image.length}`);
    }
    const body = image.subarray(start);
    res.setHeader('content-length', String(body.length));
    const cut = Math.floor(image.length / 3);
    const failNow = (beh === 'truncate-once' || beh === 'drop-once') && !failedOnce.has(m![1]!);
    if (failNow || beh === 'always-drop') {
      failedOnce.add(m![1]!);
      res.write(body.subarray(0, Math.max(0, cut - start)), () => {
        // truncate: end the socket cleanly after fewer bytes than promised; drop: reset it.
        if (beh === 'truncate-once') res.socket?.end();
        else res.socket?.destroy();
      });
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

const fast = { retries: 3, retryDelayMs: 10 };

describe('downloads through resolveBase', () => {
  test('success: verified against SHA256SUMS, cached by digest, reused without a download', async () => {
    const cacheDir = tempDir();
    const progress: DownloadProgress[] = [];
    const r = await resolveBase(`${base}/ok/disk.qcow2`, { cacheDir, ...fast, onProgress: (p) => progress.push(p) });
    assert.equal(r.kind, 'download');
    assert.equal(r.format, 'qcow2');
    assert.equal(r.virtualSize, 4 * 1024 * 1024);
    assert.equal(r.digest, `sha256:${digest}`);
    assert.equal(r.cached, false);
    assert.deepEqual(readFileSync(r.path), image);
    assert.ok(r.path.startsWith(join(cacheDir, 'bases', `download-${digest.slice(0, 16)}`)));
    assert.ok(progress.at(-1)?.done && progress.at(-1)?.received === image.length && progress.at(-1)?.total === image.length);
    const before = requests.filter((q) => q.path === '/ok/disk.qcow2').length;
    const again = await resolveBase(`${base}/ok/disk.qcow2`, { cacheDir, ...fast });
    assert.equal(again.cached, true);
    assert.equal(again.path, r.path);
    assert.equal(requests.filter((q) => q.path === '/ok/disk.qcow2').length, before, 'no second download');
  });

  test('--checksum instead of SHA256SUMS', async () => {
    const cacheDir = tempDir();
    const r = await resolveBase(`${base}/ok/disk.qcow2`, { cacheDir, checksum: `sha256:${digest}`, ...fast });
    assert.equal(r.digest, `sha256:${digest}`);
  });

  test('mismatch: refused with expected and actual digests, nothing kept', async () => {
    const cacheDir = tempDir();
    await assert.rejects(resolveBase(`${base}/mismatch/disk.qcow2`, { cacheDir, ...fast }), (e: unknown) => {
      assert.ok(e instanceof ChecksumMismatchError);
      assert.match(e.message, new RegExp(`expected sha256:${'ff'.repeat(32)}`));
      assert.match(e.message, new RegExp(`actual +sha256:${digest}`));
      return true;
    });
    const bases = join(cacheDir, 'bases');
    assert.deepEqual(readdirSync(bases).filter((n) => !n.startsWith('.')), [], 'no cache entry');
    assert.deepEqual(readdirSync(join(bases, '.partial')), [], 'partial file deleted');
    assert.deepEqual(readdirSync(join(bases, '.tmp')), [], 'no staging left');
  });

  test('404: a clear error, not retried', async () => {
    const cacheDir = tempDir();
    const n = requests.length;
    await assert.rejects(resolveBase(`${base}/ok/missing.qcow2`, { cacheDir, checksum: `sha256:${digest}`, ...fast }), (e: unknown) => {
      assert.ok(e instanceof DownloadError);
      assert.equal(e.status, 404);
      assert.match(e.message, /HTTP 404/);
      return true;
    });
    assert.equal(requests.length - n, 1, 'exactly one request');
    await assert.rejects(resolveBase(`${base}/ok/nothing.img`, { cacheDir, ...fast }), /lists no nothing\.img/);
  });

  test('truncated response: resumed with a Range request and verified', async () => {
    const cacheDir = tempDir();
    const infos: string[] = [];
    const r = await resolveBase(`${base}/truncate-once/disk.qcow2`, { cacheDir, ...fast, onInfo: (m) => infos.push(m) });
    assert.deepEqual(readFileSync(r.path), image);
    const q = requests.filter((x) => x.path === '/truncate-once/disk.qcow2');
    assert.equal(q.length, 2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(q[1]?.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= Math.floor(image.length / 3), `resumed at ${resumedAt}`);
    assert.ok(infos.some((m) => /closed after/.test(m)), infos.join('\n'));
  });

  test('connection dropped mid-body: retried and resumed', async () => {
    const cacheDir = tempDir();
    const r = await resolveBase(`${base}/drop-once/disk.qcow2`, { cacheDir, ...fast });
    assert.deepEqual(readFileSync(r.path), image);
    const q = requests.filter((x) => x.path === '/drop-once/disk.qcow2');
    assert.equal(q.length, 2);
    assert.match(q[1]?.range ?? '', /^bytes=\d+-$/);
  });

  test('503 then success: retried', async () => {
    const cacheDir = tempDir();
    const r = await resolveBase(`${base}/slow-5xx-once/disk.qcow2`, { cacheDir, ...fast });
    assert.equal(r.digest, `sha256:${digest}`);
  });
});

describe('downloadToFile', () => {
  test('a server that ignores Range: starts over instead of appending', async () => {
    const dir = tempDir();
    const part = join(dir, 'x.part');
    writeFileSync(part, Buffer.alloc(1000, 7)); // stale bytes from an earlier attempt
    const size = await downloadToFile(`${base}/no-range/disk.qcow2`, part, fast);
    assert.equal(size, image.length);
    assert.deepEqual(readFileSync(part), image);
  });

  test('resumes a partial file left by an earlier run', async () => {
    const dir = tempDir();
    const part = join(dir, 'x.part');
    writeFileSync(part, image.subarray(0, 12345));
    await downloadToFile(`${base}/ok/disk.qcow2`, part, fast);
    assert.deepEqual(readFileSync(part), image);
    assert.equal(requests.at(-1)?.range, 'bytes=12345-');
  });

  test('gives up after the retries when every attempt fails without progress', async () => {
    const dir = tempDir();
    const part = join(dir, 'x.part');
    writeFileSync(part, image.subarray(0, Math.floor(image.length / 3)));
    await assert.rejects(downloadToFile(`${base}/always-drop/disk.qcow2`, part, { retries: 2, retryDelayMs: 5 }), DownloadError);
    assert.ok(existsSync(part) && statSync(part).size === Math.floor(image.length / 3), 'the partial file is kept for a later resume');
  });

  test('connection refused is a retryable DownloadError; abort stops it', async () => {
    const dir = tempDir();
    await assert.rejects(downloadToFile('http://127.0.0.1:1/x', join(dir, 'p'), { retries: 1, retryDelayMs: 5 }), (e: unknown) => e instanceof DownloadError && e.retryable);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(fetchText(`${base}/ok/SHA256SUMS`, { signal: ac.signal }), { name: 'AbortedError' });
  });
});

describe('cache entries from downloads', () => {
  test('an entry whose image no longer matches its digest is discarded and downloaded again', async () => {
    const cacheDir = tempDir();
    const r = await resolveBase(`${base}/ok/disk.qcow2`, { cacheDir, ...fast });
    const corrupt = readFileSync(r.path);
    corrupt[100] = corrupt[100]! ^ 0xff;
    writeFileSync(r.path, corrupt);
    const infos: string[] = [];
    const again = await resolveBase(`${base}/ok/disk.qcow2`, { cacheDir, ...fast, onInfo: (m) => infos.push(m) });
    assert.equal(again.cached, false, 'rebuilt, not used');
    assert.deepEqual(readFileSync(again.path), image);
    assert.ok(infos.some((m) => /discarded: digest mismatch/.test(m)), infos.join('\n'));
    const listed = await new BaseCache(cacheDir).list();
    assert.equal(listed.length, 1);
  });
});
