// A base URL's file name becomes a file in the cache: one that decodes to a path, NUL, '.' or
// '..' is refused before anything is written, and an entry.json naming such a file is not an entry.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveBase } from '../../../src/base/index.js';
import { BaseCache } from '../../../src/base/cache.js';
import { unsafeFileNameReason } from '../../../src/base/file-name.js';
import { parseBaseSpec } from '../../../src/base/presets.js';
import { UsageError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/fs.js';

const HEX = 'ab'.repeat(32);
const HOSTILE_URLS: Array<[string, RegExp]> = [
  ['http://127.0.0.1:9/img/%2F..', /contains '\/'/],
  ['http://127.0.0.1:9/img/..%2F..%2F..%2Fetc%2Fcron.d%2Fx', /contains '\/'/],
  ['http://127.0.0.1:9/img/%2e%2e%2fescape.qcow2', /contains '\/'/],
  ['http://127.0.0.1:9/img/a%00b.qcow2', /control character/],
  ['http://127.0.0.1:9/img/..%5Cx.qcow2', /contains '\\'/],
  ['http://127.0.0.1:9/img/disk.qcow2,file.locking=off', /contains ','/],
  ['http://127.0.0.1:9/img/-disk.qcow2', /starts with '-'/],
  ['http://127.0.0.1:9/img/%E0%A4%A.qcow2', /malformed percent-escape/],
  // The URL parser folds "." and ".." segments (encoded or not) away: what is left names no file.
  ['http://127.0.0.1:9/img/%2E%2E', /does not name a file/],
  ['http://127.0.0.1:9/img/.', /does not name a file/],
  ['http://127.0.0.1:9/img/', /does not name a file/],
];

describe('base URL file names', () => {
  for (const [url, why] of HOSTILE_URLS) {
    test(`refused: ${url}`, () => {
      assert.throws(() => parseBaseSpec(url, { checksum: `sha256:${HEX}` }), (e: unknown) => e instanceof UsageError && why.test(e.message));
    });
  }

  test('a plain name, percent-escapes decoded, is kept', () => {
    const s = parseBaseSpec('http://127.0.0.1:9/img/my%20disk.qcow2', { checksum: `sha256:${HEX}` });
    assert.equal(s.kind === 'download' && s.fileName, 'my disk.qcow2');
  });

  test('unsafeFileNameReason: ".", "..", "", NUL and "/" are unsafe; a plain name is not', () => {
    for (const n of ['.', '..', '', 'a\0b', 'a/b', '/abs']) assert.ok(unsafeFileNameReason(n), JSON.stringify(n));
    assert.equal(unsafeFileNameReason('noble-server-cloudimg-amd64.img'), undefined);
  });

  test('resolveBase with a %2F.. URL: exit-2 error, and nothing written, not even the cache dir', async () => {
    const root = tempDir();
    const cacheDir = join(root, 'cache');
    await assert.rejects(resolveBase('http://127.0.0.1:9/a/b/%2F..%2F..%2Fpwned', { cacheDir, checksum: `sha256:${HEX}`, retries: 0 }), UsageError);
    assert.deepEqual(readdirSync(root), []);
  });

  test('an entry.json whose file leaves the entry directory is not an entry', async () => {
    const cacheDir = tempDir();
    const cache = new BaseCache(cacheDir);
    const key = 'download-0123456789abcdef';
    mkdirSync(cache.entryDir(key), { recursive: true });
    const entry = { version: 1, key, kind: 'download', name: 'x', source: 'x', file: '../../../../etc/hostname', format: 'raw', virtualSize: 1, sha256: HEX, size: 1, createdAt: '' };
    writeFileSync(join(cache.entryDir(key), 'entry.json'), JSON.stringify(entry));
    assert.equal(await cache.readEntry(key), undefined);
    assert.equal(await cache.lookup(key), undefined);
    assert.equal(existsSync(cache.entryDir(key)), false, 'the damaged entry is discarded');
    assert.ok(existsSync('/etc/hostname'));
  });

  test('commit refuses a file name that is not plain', async () => {
    const cache = new BaseCache(tempDir());
    const stage = await cache.stage('download-00');
    await assert.rejects(cache.commit('download-00', stage, { kind: 'download', name: 'x', source: 'x', file: '../x', format: 'raw', virtualSize: 1 }, HEX), UsageError);
  });
});
