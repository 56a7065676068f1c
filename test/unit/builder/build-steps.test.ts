import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { assertVmBuildTarget, prepareStep } from '../../../src/builder/prepare.js';
import { parseResults } from '../../../src/builder/guest-run.js';
import { newBuildContext } from '../../../src/builder/index.js';
import { resolveBuildPlan } from '../../../src/config/load.js';
import { profileFor } from '../../../src/vm/profile.js';
import { timeLeftMs } from '../../../src/vm/session.js';
import { sourceDiskSizeBytes } from '../../../src/builder/source-share.js';
import { buildSteps } from '../../../src/builder/index.js';
import { UsageError, TimeoutError } from '../../../src/errors.js';
import { remoteScriptCommand } from '../../../src/tools/ssh.js';
import { EXAMPLE_SOURCE } from '../../../src/paths.js';

test('the bundled example has a vm-build target; a tree without one is a usage error', () => {
  assertVmBuildTarget(EXAMPLE_SOURCE);
  const dir = tempDir();
  assert.throws(() => assertVmBuildTarget(dir), (e: unknown) => e instanceof UsageError && /no Makefile/.test(e.message));
  writeFileSync(join(dir, 'Makefile'), 'all:\n\techo hi\nvm-builder:\n');
  assert.throws(() => assertVmBuildTarget(dir), (e: unknown) => e instanceof UsageError && /no vm-build target/.test(e.message));
  mkdirSync(join(dir, 'x'));
  writeFileSync(join(dir, 'Makefile'), 'vm-build: all\n');
  assertVmBuildTarget(dir);
});

test('guest results are parsed from result.key=value lines only', () => {
  const r = parseResults('==> building\nresult.kernel=6.12.1-cloud-amd64\nnoise result.x=1\nresult.vermagic=6.12.1 SMP mod_unload \n');
  assert.deepEqual(r, { kernel: '6.12.1-cloud-amd64', vermagic: '6.12.1 SMP mod_unload' });
});

test('remaining time: positive before the deadline, a TimeoutError naming --timeout after it', () => {
  const { session } = newBuildContext(resolveBuildPlan({ timeout: 10 }, {}, tempDir()), profileFor('tcg', 2048, 2));
  session.poweredOnAt = Date.now() - 5000;
  assert.ok(timeLeftMs(session, 'x') > 4000 && timeLeftMs(session, 'x') <= 5000);
  session.poweredOnAt = Date.now() - 10_001;
  assert.throws(() => timeLeftMs(session, 'building'), (e: unknown) => e instanceof TimeoutError && /^building: not done within 10 s/.test(e.message) && /--timeout 20/.test(e.hint ?? ''));
});

test('source disk is large enough for the tree plus ext4 overhead, in whole MiB', () => {
  const s = sourceDiskSizeBytes(10 * 2 ** 20);
  assert.ok(s >= 10 * 2 ** 20 * 1.25 + 32 * 2 ** 20);
  assert.equal(s % 2 ** 20, 0);
});

test('remote scripts run from a temp file with stdin from /dev/null, arguments quoted', () => {
  const c = remoteScriptCommand(['/mnt/src', 'make vm-build; rm -rf /'], true);
  assert.match(c, /sudo -n bash "\$f" \/mnt\/src 'make vm-build; rm -rf \/' <\/dev\/null/);
});

test('the builder is the spec five stages in order, every VM-owning step has a cleanup', () => {
  const steps = buildSteps({});
  assert.deepEqual(
    steps.map((s) => s.name),
    ['environment', 'base-image', 'warm-start', 'overlay', 'access-seed', 'source-share', 'boot', 'wait-ssh', 'wait-cloud-init', 'save-snapshot', 'payload-files', 'build-in-vm', 'sign-modules', 'sbom-licences', 'variant', 'sbom-packages', 'golden-cleanup', 'power-off', 'finalise'],
  );
  for (const name of ['environment', 'warm-start', 'boot', 'finalise']) assert.ok(steps.find((s) => s.name === name)!.cleanup, `${name} has no cleanup`);
});

test('one build of a variant at a time: a second environment step is refused while the first holds the VM directory', async () => {
  const plan = resolveBuildPlan({ buildDir: join(tempDir(), 'build'), outputDir: join(tempDir(), 'images') }, {}, tempDir());
  const rt = { signal: new AbortController().signal, logFile: '/dev/null', emit: () => undefined, info: () => undefined, warn: () => undefined };
  const first = newBuildContext(plan, profileFor('tcg', 2048, 2));
  await prepareStep.run(first, rt);
  const second = newBuildContext(plan, profileFor('tcg', 2048, 2));
  await assert.rejects(prepareStep.run(second, rt), (e: unknown) => e instanceof UsageError && /another build of production is running/.test(e.message));
  assert.ok(existsSync(first.vmDir), 'the first build keeps its VM directory');
  await prepareStep.cleanup!(first, rt);
  await prepareStep.run(second, rt);
  await prepareStep.cleanup!(second, rt);
});
