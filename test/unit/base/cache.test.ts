// The base cache: content keys, atomic commits, digest checks, prune (the lock: lock.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { BaseCache, type EntryMeta } from '../../../src/base/cache.js';
import { tempDir } from '../../helpers/fs.js';

const meta: EntryMeta = { kind: 'download', name: 'test', source: 'http://x/y.img', file: 'y.img', format: 'qcow2', virtualSize: 1024 };

async function addEntry(cache: BaseCache, key: string, content = 'image bytes'): Promise<string> {
  const stage = await cache.stage(key);
  writeFileSync(join(stage, 'y.img'), content);
  const lock = await cache.lock(key);
  try {
    const e = await cache.commit(key, stage, meta);
    return cache.imagePath(e);
  } finally {
    await lock.release();
  }
}

describe('BaseCache', () => {
  test('commit then lookup returns the verified entry; staging is gone', async () => {
    const cache = new BaseCache(tempDir());
    const path = await addEntry(cache, 'download-0123456789abcdef');
    const e = await cache.lookup('download-0123456789abcdef');
    assert.ok(e);
    assert.equal(e.size, 'image bytes'.length);
    assert.equal(cache.imagePath(e), path);
    assert.match(e.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(readdirSync(join(cache.dir, '.tmp')), []);
  });

  test('an entry whose image changed is discarded, never returned', async () => {
    const cache = new BaseCache(tempDir());
    const path = await addEntry(cache, 'k1');
    writeFileSync(path, 'image BYTES'); // same size, different content
    const msgs: string[] = [];
    assert.equal(await cache.lookup('k1', { onInfo: (m) => msgs.push(m) }), undefined);
    assert.match(msgs[0] ?? '', /k1 discarded: digest mismatch: expected sha256:[0-9a-f]{64}, actual sha256:[0-9a-f]{64}/);
    assert.equal(existsSync(cache.entryDir('k1')), false);
  });

  test('a directory without entry.json (crash debris) is discarded', async () => {
    const cache = new BaseCache(tempDir());
    mkdirSync(cache.entryDir('k2'), { recursive: true });
    assert.equal(await cache.lookup('k2'), undefined);
    assert.equal(existsSync(cache.entryDir('k2')), false);
  });

  test('keys cannot escape the cache directory', () => {
    const cache = new BaseCache(tempDir());
    assert.throws(() => cache.entryDir('../etc'));
    assert.throws(() => cache.entryDir('a/b'));
  });

  test('list and prune: by age, broken entries, all; locked entries are skipped', async () => {
    const cache = new BaseCache(tempDir());
    await addEntry(cache, 'old');
    await addEntry(cache, 'new');
    await addEntry(cache, 'busy');
    const longAgo = new Date(Date.now() - 40 * 86_400_000);
    utimesSync(join(cache.entryDir('old'), 'last-used'), longAgo, longAgo);
    utimesSync(join(cache.entryDir('busy'), 'last-used'), longAgo, longAgo);
    mkdirSync(join(cache.dir, '.tmp', 'dead.1234abcd'), { recursive: true }); // killed run
    const listed = await cache.list();
    assert.deepEqual(listed.map((l) => l.key), ['busy', 'new', 'old']);
    assert.ok(listed.every((l) => l.entry && l.bytes > 0 && !l.problem));

    const held = await cache.lock('busy');
    const dry = await cache.prune({ olderThanMs: 30 * 86_400_000, dryRun: true });
    assert.deepEqual(dry.removed.map((r) => r.key).sort(), ['.tmp/dead.1234abcd', 'old']);
    assert.ok(existsSync(cache.entryDir('old')), 'dry run removes nothing');

    const r = await cache.prune({ olderThanMs: 30 * 86_400_000 });
    assert.deepEqual(r.removed.map((x) => x.key).sort(), ['.tmp/dead.1234abcd', 'old']);
    assert.deepEqual(r.skipped, [{ key: 'busy', reason: 'in use by a running build or base job (locked)' }]);
    assert.ok(r.freedBytes > 0);
    await held.release();

    const all = await cache.prune({ all: true });
    assert.deepEqual(all.removed.map((x) => x.key).sort(), ['busy', 'new']);
    assert.deepEqual(await cache.list(), []);
  });

  test('prune --verify removes entries whose digest no longer matches', async () => {
    const cache = new BaseCache(tempDir());
    const p = await addEntry(cache, 'bad');
    await addEntry(cache, 'good');
    writeFileSync(p, 'IMAGE bytes');
    const r = await cache.prune({ verify: true });
    assert.deepEqual(r.removed.map((x) => x.key), ['bad']);
    assert.match(r.removed[0]?.reason ?? '', /digest mismatch/);
  });
});
