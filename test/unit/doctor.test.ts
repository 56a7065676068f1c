import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertReady, doctor, type DoctorReport } from '../../src/doctor.js';
import { renderDoctor } from '../../src/cli/commands/doctor.js';
import { PreconditionError } from '../../src/errors.js';
import { HOST_TOOLS } from '../../src/tools/host-tools.js';
import { tempDir } from '../helpers/fs.js';
import { resolveVmProfile } from '../../src/vm/profile.js';

function report(over: Partial<DoctorReport> = {}): DoctorReport {
  return {
    ok: true,
    tools: [
      { name: 'qemu-system-x86_64', found: true, path: '/usr/bin/qemu-system-x86_64', version: 'QEMU emulator version 7.2.0', debPackage: 'qemu-system-x86', purpose: '' },
      { name: 'cloud-localds', found: true, path: '/usr/bin/cloud-localds', version: 'cloud-image-utils 0.33', debPackage: 'cloud-image-utils', purpose: '' },
    ],
    missingPackages: [],
    accelerator: {
      kvm: { accel: 'kvm', usable: false, reason: 'probe guest did not finish within 10 s (guest hangs)' },
      tcg: { accel: 'tcg', usable: true, ms: 200, reason: 'probe guest finished in 200 ms' },
      chosen: 'tcg',
      key: 'k',
      probedAt: '2025-01-01T00:00:00.000Z',
      cached: false,
    },
    ms: 1234,
    ...over,
  };
}

describe('assertReady', () => {
  test('passes when the needed tools are there and an accelerator works', () => {
    assert.doesNotThrow(() => assertReady(report(), ['qemu-system-x86_64', 'cloud-localds']));
  });

  test('a missing needed tool: PreconditionError naming it, hint with the apt-get line', () => {
    const r = report();
    r.tools[1] = { ...r.tools[1]!, found: false };
    assert.throws(
      () => assertReady(r, ['cloud-localds']),
      (e: unknown) => e instanceof PreconditionError && /missing host tools: cloud-localds/.test(e.message) && /apt-get install -y cloud-image-utils/.test(e.hint ?? ''),
    );
    assert.doesNotThrow(() => assertReady(r, ['qemu-system-x86_64']), 'only the needed tools count');
  });

  test('no usable accelerator: PreconditionError with both reasons', () => {
    const r = report();
    r.accelerator = { ...r.accelerator!, tcg: { accel: 'tcg', usable: false, reason: 'tcg broken' }, chosen: undefined };
    assert.throws(() => assertReady(r, []), /no usable accelerator: KVM: probe guest did not finish.*; TCG: tcg broken/);
  });
});

describe('renderDoctor', () => {
  test('lists tools, both accelerators with reasons, the choice, and the verdict', () => {
    const text = renderDoctor(report()).replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
    assert.match(text, /qemu-system-x86_64 +found +QEMU emulator version 7\.2\.0/);
    assert.match(text, /KVM +unusable +probe guest did not finish within 10 s \(guest hangs\)/);
    assert.match(text, /TCG +usable +probe guest finished in 200 ms/);
    assert.match(text, /builds will use: TCG/);
    assert.match(text, /ready \(1234 ms\)/);
  });

  test('missing tools: the package to install and the command', () => {
    const r = report({ ok: false, missingPackages: ['cloud-image-utils'], installCommand: 'apt-get install -y cloud-image-utils' });
    r.tools[1] = { ...r.tools[1]!, found: false, version: undefined };
    const text = renderDoctor(r).replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
    assert.match(text, /cloud-localds +missing +install package cloud-image-utils/);
    assert.match(text, /To install what is missing: apt-get install -y cloud-image-utils/);
    assert.match(text, /not ready/);
  });

  test('a cached probe says so and how to refresh', () => {
    const r = report();
    r.accelerator = { ...r.accelerator!, cached: true };
    assert.match(renderDoctor(r), /cached probe from 2025-01-01T00:00:00\.000Z; --refresh to re-probe/);
  });
});

test('doctor({ probe: false }): every host tool reported, no accelerator probe', { timeout: 30_000 }, async () => {
  const r = await doctor({ cacheDir: tempDir(), probe: false });
  assert.deepEqual(
    r.tools.map((t) => t.name),
    HOST_TOOLS.map((t) => t.name),
  );
  assert.equal(r.accelerator, undefined);
  assert.equal(r.ok, false, 'not ready without an accelerator verdict');
  for (const t of r.tools) if (t.found) assert.ok(t.path, t.name);
});

test('doctor({ only }): only those host tools are looked up (the quick test records no versions)', { timeout: 30_000 }, async () => {
  const r = await doctor({ cacheDir: tempDir(), probe: false, only: ['qemu-img', 'ssh'] });
  assert.deepEqual(r.tools.map((t) => t.name).sort(), ['qemu-img', 'ssh']);
});

test('resolveVmProfile({ neededToolsOnly }): doctor is asked for the job\'s tools only; by default for every one', async () => {
  const asked: Array<readonly string[] | undefined> = [];
  const fake: typeof doctor = async (o) => {
    asked.push(o.only);
    return report();
  };
  await resolveVmProfile({ memoryMb: 512, cpus: 1, cacheDir: tempDir(), doctor: fake, neededToolsOnly: true });
  await resolveVmProfile({ memoryMb: 512, cpus: 1, cacheDir: tempDir(), doctor: fake, tools: ['cloud-localds'] });
  assert.deepEqual(asked, [['qemu-system-x86_64', 'qemu-img'], undefined]);
});

describe('renderDoctor: guest architectures', () => {
  test('each architecture: works (its probe guest\'s reason) or missing (the apt-get line), with what it needs', () => {
    const r = report({
      architectures: [
        { arch: 'amd64', items: [{ what: 'qemu-system-x86_64', found: true, pkg: 'qemu-system-x86', need: 'vm' }], installed: true, probe: { arch: 'amd64', usable: true, ms: 200, reason: 'accelerator probe: tcg' }, ok: true },
        {
          arch: 'arm64',
          items: [
            { what: 'qemu-system-aarch64', found: false, pkg: 'qemu-system-arm', need: 'vm' },
            { what: 'qemu-aarch64-static', found: true, pkg: 'qemu-user-static', need: 'base' },
          ],
          installed: false,
          installCommand: 'apt-get install -y qemu-system-arm',
          ok: false,
        },
      ],
    });
    const text = renderDoctor(r).replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
    assert.match(text, /amd64 +works +accelerator probe: tcg/);
    assert.match(text, /arm64 +missing +install: apt-get install -y qemu-system-arm/);
    assert.match(text, /needs: -qemu-system-aarch64 \(qemu-system-arm\), \+qemu-aarch64-static \(qemu-user-static\)/);
    assert.match(text, /ready \(1234 ms\)/, 'an architecture that is not installed does not make the host not ready');
  });
});
