import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { probeAcceleratorsCached, probeKey } from '../../../src/tools/accel-cache.js';
import { PROBE_EXIT_CODE, PROBE_MARKER } from '../../../src/tools/accel.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

describe('probeAcceleratorsCached (fake qemu-system-x86_64 first on PATH)', { timeout: 30_000 }, () => {
  const bin = tempDir();
  const calls = join(bin, 'calls');
  const versionFile = join(bin, 'version');
  const savedPath = process.env.PATH;
  before(() => {
    writeFileSync(versionFile, 'QEMU emulator version 9.9.9 (fake)\n');
    fakeBin(
      bin,
      'qemu-system-x86_64',
      `if [ "$1" = --version ]; then cat ${versionFile}; exit 0; fi
echo probe >> ${calls}
printf '${PROBE_MARKER}\\r\\n'; exit ${PROBE_EXIT_CODE}`,
    );
    process.env.PATH = `${bin}${delimiter}${savedPath}`;
  });
  after(() => {
    process.env.PATH = savedPath;
  });
  const probes = (): number => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean).length : 0);

  test('the key names the host kernel and the QEMU version', async () => {
    assert.match(await probeKey(), /\|QEMU emulator version 9\.9\.9 \(fake\)$/);
  });

  test('probes once, then answers from the cache; --refresh and a new QEMU version probe again', async () => {
    const cacheDir = join(tempDir(), 'cache');
    const first = await probeAcceleratorsCached({ cacheDir });
    assert.equal(first.cached, false);
    assert.equal(first.tcg.usable, true);
    assert.ok(existsSync(join(cacheDir, 'accel-probe.json')));
    const n = probes();
    assert.ok(n >= 1);

    const second = await probeAcceleratorsCached({ cacheDir });
    assert.equal(second.cached, true);
    assert.equal(second.probedAt, first.probedAt);
    assert.deepEqual(second.tcg, first.tcg);
    assert.equal(probes(), n, 'no probe run when cached');

    const refreshed = await probeAcceleratorsCached({ cacheDir, refresh: true });
    assert.equal(refreshed.cached, false);
    assert.ok(probes() > n);

    writeFileSync(versionFile, 'QEMU emulator version 10.0.0 (fake)\n');
    const m = probes();
    const upgraded = await probeAcceleratorsCached({ cacheDir });
    assert.equal(upgraded.cached, false, 'a QEMU upgrade invalidates the cache');
    assert.match(upgraded.key, /10\.0\.0/);
    assert.ok(probes() > m);
  });

  test('an unreadable cache file is ignored, not fatal', async () => {
    const cacheDir = tempDir();
    writeFileSync(join(cacheDir, 'accel-probe.json'), '{not json');
    const r = await probeAcceleratorsCached({ cacheDir });
    assert.equal(r.cached, false);
    assert.equal(JSON.parse(readFileSync(join(cacheDir, 'accel-probe.json'), 'utf8')).key, r.key);
  });
});
