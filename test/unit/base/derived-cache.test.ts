// cache list|prune over what builds derive from bases (src/base/derived-cache.ts): listed with
// sizes and last use, pruned by age or --all, never while a build holds the entry's lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { listDerived, pruneDerived } from '../../../src/base/derived-cache.js';
import { acquireLock } from '../../../src/base/lock.js';

function entry(cache: string, family: string, name: string, ageDays: number): string {
  const dir = join(cache, family, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'entry.json'), '{}');
  writeFileSync(join(dir, 'data'), Buffer.alloc(64 * 1024, 1));
  const t = new Date(Date.now() - ageDays * 86_400_000);
  for (const p of [join(dir, 'entry.json'), join(dir, 'data'), dir]) utimesSync(p, t, t);
  return dir;
}

test('derived entries: listed per family (not locks, staging or the trees folder itself), pruned by age, kept while locked', async () => {
  const cache = tempDir();
  const old = entry(cache, 'snapshots', 'a'.repeat(32), 40);
  const fresh = entry(cache, 'snapshots', 'b'.repeat(32), 1);
  const incr = entry(cache, 'incremental', 'c'.repeat(32), 40);
  const tree = entry(cache, 'incremental/trees', 'tree1', 40);
  const root = entry(cache, 'quick-roots', 'd'.repeat(32), 40);
  mkdirSync(join(cache, 'snapshots', '.locks'), { recursive: true });
  mkdirSync(join(cache, 'snapshots', '.tmp', 'x'), { recursive: true });
  const listed = await listDerived(cache);
  assert.deepEqual(listed.map((e) => `${e.family}/${e.name}`), [`snapshots/${'a'.repeat(32)}`, `snapshots/${'b'.repeat(32)}`, `incremental/${'c'.repeat(32)}`, 'incremental/trees/tree1', `quick-roots/${'d'.repeat(32)}`]);
  assert.ok(listed.every((e) => e.bytes >= 64 * 1024));
  assert.ok(listed[0]!.lastUsed.getTime() < Date.now() - 39 * 86_400_000);

  // Nothing asked: nothing removed.
  assert.deepEqual((await pruneDerived(cache, {})).removed, []);
  // A build holds the old incremental entry: kept and reported; a dry run removes nothing.
  const held = await acquireLock(join(cache, 'incremental', '.locks', `${'c'.repeat(32)}.flock`), { mode: 'shared' });
  const dry = await pruneDerived(cache, { olderThanMs: 30 * 86_400_000, dryRun: true });
  assert.equal(dry.removed.length, 3);
  assert.ok(existsSync(old) && existsSync(tree) && existsSync(root));
  const r = await pruneDerived(cache, { olderThanMs: 30 * 86_400_000 });
  assert.deepEqual(r.removed.map((x) => x.key).sort(), [`quick-roots/${'d'.repeat(32)}`, 'incremental/trees/tree1', `snapshots/${'a'.repeat(32)}`].sort());
  assert.deepEqual(r.skipped.map((x) => x.key), [`incremental/${'c'.repeat(32)}`]);
  assert.ok(r.freedBytes >= 3 * 64 * 1024);
  assert.ok(!existsSync(old) && existsSync(fresh) && existsSync(incr) && !existsSync(tree) && !existsSync(root));
  await held.release();
  const all = await pruneDerived(cache, { all: true });
  assert.deepEqual(all.removed.map((x) => x.key).sort(), [`incremental/${'c'.repeat(32)}`, `snapshots/${'b'.repeat(32)}`].sort());
  assert.deepEqual(await listDerived(cache), []);
});
