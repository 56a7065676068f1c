import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { formatChecksums, isSafeRelative, parseChecksums, verifyChecksums, writeChecksums } from '../../../src/ci/checksums.js';
import { sha256File } from '../../../src/tools/hash.js';
import { tempDir } from '../../helpers/fs.js';

test('written checksums verify with sha256sum -c and round-trip through the parser', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'images'));
  writeFileSync(join(dir, 'images', 'b.qcow2'), 'bbb');
  writeFileSync(join(dir, 'images', 'a.qcow2.gz'), 'aaa');
  const entries = [
    { path: 'images/b.qcow2', sha256: await sha256File(join(dir, 'images', 'b.qcow2')) },
    { path: 'images/a.qcow2.gz', sha256: await sha256File(join(dir, 'images', 'a.qcow2.gz')) },
  ];
  await writeChecksums(dir, entries);
  const r = spawnSync('sha256sum', ['-c', 'checksums.sha256'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'images/a.qcow2.gz: OK\nimages/b.qcow2: OK\n');
  assert.deepEqual(parseChecksums(formatChecksums(entries)).map((e) => e.path), ['images/a.qcow2.gz', 'images/b.qcow2']);
  assert.deepEqual(await verifyChecksums(dir, entries), []);
  writeFileSync(join(dir, 'images', 'b.qcow2'), 'tampered');
  const bad = await verifyChecksums(dir, [...entries, { path: 'images/gone', sha256: '0'.repeat(64) }]);
  assert.equal(bad.length, 2);
  assert.match(bad[0]!.message, /images\/b.qcow2: sha256 [0-9a-f]{64}, expected/);
  assert.equal(bad[0]!.missing, false);
  assert.match(bad[1]!.message, /images\/gone: missing/);
  assert.equal(bad[1]!.missing, true);
});

test('parser: binary mode accepted; absolute paths, .. and junk rejected', () => {
  assert.equal(parseChecksums(`${'a'.repeat(64)} *images/x\n`)[0]!.path, 'images/x');
  for (const line of [`${'a'.repeat(64)}  /etc/passwd`, `${'a'.repeat(64)}  ../x`, `${'a'.repeat(64)}  images/../../x`, 'nope  x', `${'a'.repeat(63)}  x`]) {
    assert.throws(() => parseChecksums(line), /not a sha256sum line/, line);
  }
  assert.ok(isSafeRelative('images/a.qcow2'));
  assert.ok(!isSafeRelative(''));
});
