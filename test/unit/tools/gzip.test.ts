import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { gzipFile } from '../../../src/tools/gzip.js';
import { which } from '../../../src/tools/host-tools.js';
import { tempDir } from '../../helpers/fs.js';

describe('gzipFile', () => {
  // Half random (as a compressed qcow2 is), half runs of zeros: 3 MiB, several pigz blocks.
  const data = Buffer.concat([randomBytes(1.5 * 2 ** 20), Buffer.alloc(1.5 * 2 ** 20)]);
  const dir = tempDir();
  const src = join(dir, 'in.bin');
  writeFileSync(src, data);

  for (const pigz of [false, true]) {
    test(`${pigz ? 'pigz' : 'zlib'}: gunzip gives the input back, no name or time in the header, progress to the end`, { skip: pigz && !which('pigz') ? 'pigz is not installed' : false }, async () => {
      const dst = join(dir, `out-${pigz}.gz`);
      const seen: number[] = [];
      await gzipFile(src, dst, { pigz, onProgress: (done, total) => seen.push(done / total) });
      const gz = readFileSync(dst);
      assert.deepEqual(gunzipSync(gz), data);
      assert.equal(gz[3]! & 0x08, 0, 'FNAME flag clear');
      assert.equal(gz.readUInt32LE(4), 0, 'MTIME 0');
      assert.equal(seen.at(-1), 1);
      assert.ok(gz.length < data.length * 0.6, `the zeros compress (${gz.length} of ${data.length})`);
    });
  }

  test('pigz output is the same on every run (reproducible images)', { skip: !which('pigz') ? 'pigz is not installed' : false }, async () => {
    await gzipFile(src, join(dir, 'a.gz'), { pigz: true });
    await gzipFile(src, join(dir, 'b.gz'), { pigz: true });
    assert.deepEqual(readFileSync(join(dir, 'a.gz')), readFileSync(join(dir, 'b.gz')));
  });
});
