import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { assertFreeSpace, freeBytes } from '../../../src/tools/free-space.js';
import { UsageError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/fs.js';

test('a path that does not exist yet is judged by its nearest existing ancestor', async () => {
  const dir = tempDir();
  // The same file system: equal but for what other processes wrote meanwhile.
  const [missing, existing] = [await freeBytes(join(dir, 'a', 'b')), await freeBytes(dir)];
  assert.ok(existing > 0 && Math.abs(missing - existing) < 256 * 2 ** 20, `${missing} vs ${existing}`);
});

test('enough space passes; too little is exit 2 naming the path, the numbers and the flag', async () => {
  const dir = tempDir();
  const free = await freeBytes(dir);
  await assertFreeSpace([{ path: join(dir, 'out'), bytes: 1024, what: 'the image', flag: '--output-dir' }]);
  await assert.rejects(
    assertFreeSpace([{ path: join(dir, 'out'), bytes: free * 2, what: 'the image', flag: '--output-dir' }]),
    (e: unknown) => e instanceof UsageError && /^not enough disk space: .* free where the image in .*\/out \(/.test(e.message) && /--output-dir/.test(e.hint ?? ''),
  );
});

test('needs on one file system add up', async () => {
  const dir = tempDir();
  const half = Math.floor((await freeBytes(dir)) * 0.6);
  const needs = [
    { path: join(dir, 'out'), bytes: half, what: 'the image', flag: '--output-dir' },
    { path: join(dir, 'build'), bytes: half, what: 'the VM disk', flag: '--build-dir' },
  ];
  await assertFreeSpace([needs[0]!]);
  await assert.rejects(assertFreeSpace(needs), /the image in .* and the VM disk in /);
});
