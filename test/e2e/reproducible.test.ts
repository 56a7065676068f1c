// Reproducibility (behind VEXFS_E2E_REPRO=1: a second full build, ~10 minutes under TCG): two
// builds of minimal from the same inputs (the e2e's cached image and a second build, cached
// beside it), compared with `vexfs-image diff` without booting either. What may differ is the
// short list below (README, "Reproducible images"); everything else — every file's content,
// type, mode, owner and size, the package set, the module's vermagic — is identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuiltImage } from '../helpers/built-image.js';
import { tempDir } from '../helpers/fs.js';
import { diffImages, diffText } from '../../src/supply/diff.js';
import { EXPECTED_DIFFERENCES } from '../helpers/repro.js';

const ON = process.env.VEXFS_E2E_REPRO === '1';

test('two builds of minimal from the same inputs differ only in the documented entries', { skip: !ON && 'set VEXFS_E2E_REPRO=1', timeout: 3_600_000 }, async (t) => {
  const first = await ensureBuiltImage('minimal');
  const second = await ensureBuiltImage('minimal', 'second');
  t.diagnostic(`first ${first.buildMs === undefined ? 'cached' : `built in ${Math.round(first.buildMs / 1000)} s`}, second ${second.buildMs === undefined ? 'cached' : `built in ${Math.round(second.buildMs / 1000)} s`}`);
  const t0 = Date.now();
  const d = await diffImages(first.image, second.image, { tmpDir: tempDir('vexfs-repro-') });
  t.diagnostic(`diff took ${Math.round((Date.now() - t0) / 1000)} s over ${d.entries} entries`);
  t.diagnostic(diffText(d));
  assert.deepEqual(d.packages, [], 'the package sets are identical');
  assert.deepEqual(d.modules, [], 'the modules have the same vermagic');
  const unexpected = d.files.filter((f) => !EXPECTED_DIFFERENCES.some(([re]) => re.test(f.path)));
  assert.deepEqual(unexpected.map((f) => `${f.changes.join(',')} ${f.path}`), [], 'only the documented entries differ');
  assert.ok(d.files.length <= 10, `${d.files.length} entries differ (target: at most 10)`);
  // The payload is bit-identical: same module and vexctl digests in both manifests.
  const [ma, mb] = [first, second].map((b) => JSON.parse(readFileSync(join(b.dir, `${b.name}.json`), 'utf8')));
  assert.equal(ma.module.sha256, mb.module.sha256);
  assert.equal(ma.vexctl.sha256, mb.vexctl.sha256);
  assert.equal(ma.supply.source_date_epoch, mb.supply.source_date_epoch);
});
