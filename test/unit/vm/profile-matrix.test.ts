// The VM profile matrix: --profile parsing, the QEMU arguments of each firmware and disk bus,
// OVMF discovery, and the profile carried into every report row.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { detectBootFailure, qemuArgs, type DiskBus, type VmSpec } from '../../../src/tools/qemu.js';
import { completeChoice, findOvmf, parseProfile, parseProfiles, profileFor, profileLabel, resolveHardware } from '../../../src/vm/profile.js';
import { renderJunit } from '../../../src/report/junit.js';
import { renderHtml } from '../../../src/report/html.js';
import { renderMarkdown } from '../../../src/report/markdown.js';
import { buildReport, type ImageResult } from '../../../src/report/model.js';

const OVMF = { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' };
const DEFAULTS = { memoryMb: 2048, cpus: 2 };

function spec(hw: Parameters<typeof profileFor>[4], extra: Partial<VmSpec> = {}): VmSpec {
  return {
    name: 't',
    profile: profileFor('tcg', 512, 2, {}, hw),
    drives: [{ file: '/w/overlay.qcow2', format: 'qcow2' }],
    seedIso: '/w/seed.iso',
    serialLog: '/w/serial.log',
    qmpSocket: '/w/qmp.sock',
    ...extra,
  };
}

const valuesOf = (args: string[], flag: string): string[] => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

describe('parseProfile', () => {
  test('words in any order; what is not given is the default', () => {
    assert.deepEqual(parseProfile('uefi,nvme,512M'), { firmware: 'uefi', diskBus: 'nvme', memoryMb: 512 });
    assert.deepEqual(parseProfile('512m, uefi'), { firmware: 'uefi', diskBus: 'virtio-blk', memoryMb: 512 });
    assert.deepEqual(parseProfile('sata'), { firmware: 'bios', diskBus: 'sata' });
    assert.deepEqual(parseProfile('virtio-scsi,1G,4cpu'), { firmware: 'bios', diskBus: 'virtio-scsi', memoryMb: 1024, cpus: 4 });
  });

  test('key=value form', () => {
    assert.deepEqual(parseProfile('firmware=uefi,bus=nvme,memory=768,cpus=1'), { firmware: 'uefi', diskBus: 'nvme', memoryMb: 768, cpus: 1 });
  });

  test('unknown values, duplicates and bare numbers are refused with a usage error naming them', () => {
    assert.throws(() => parseProfile('efi'), (e: unknown) => e instanceof UsageError && /unknown profile value "efi"/.test(e.message));
    assert.throws(() => parseProfile('firmware=coreboot'), /unknown firmware "coreboot": give bios or uefi/);
    assert.throws(() => parseProfile('bus=ide'), /unknown disk bus "ide": give one of virtio-blk, virtio-scsi, nvme, sata/);
    assert.throws(() => parseProfile('bios,uefi'), /firmware given twice/);
    assert.throws(() => parseProfile('512'), /unknown profile value "512"/);
    assert.throws(() => parseProfile('memory=lots'), /memory "lots" is not a size/);
    assert.throws(() => parseProfile('cpus=0'), /vCPUs "0" is not a whole number from 1 to 64/);
    assert.throws(() => parseProfile(' , '), /empty profile/);
  });

  test('memory below what the images need is refused up front, saying so', () => {
    assert.throws(() => completeChoice(parseProfile('uefi,384M'), DEFAULTS), (e: unknown) => e instanceof UsageError && /384 MiB of memory is below the 512 MiB the images need/.test(e.message));
    assert.equal(completeChoice(parseProfile('uefi,512M'), DEFAULTS).memoryMb, 512);
    assert.deepEqual(completeChoice(parseProfile('nvme'), DEFAULTS), { firmware: 'bios', diskBus: 'nvme', memoryMb: 2048, cpus: 2 });
  });

  test('parseProfiles: the same profile twice is refused', () => {
    assert.throws(() => parseProfiles(['uefi', 'uefi,2G'], DEFAULTS), /profile uefi-virtio-blk-2048m-2cpu given twice/);
    assert.equal(parseProfiles(['bios', 'uefi,nvme,512M'], DEFAULTS).length, 2);
  });

  test('labels carry firmware, bus, memory and vCPUs and no dots (JUnit classname parts)', () => {
    assert.equal(profileLabel({ firmware: 'uefi', diskBus: 'nvme', memoryMb: 512, cpus: 2 }), 'uefi-nvme-512m-2cpu');
  });
});

describe('OVMF discovery', () => {
  test('missing firmware: a usage error naming the Debian package', () => {
    const env = { VEXFS_IMAGE_OVMF_CODE: '/nonexistent/CODE.fd', VEXFS_IMAGE_OVMF_VARS: '/nonexistent/VARS.fd' };
    assert.throws(() => findOvmf(env), (e: unknown) => e instanceof UsageError && /OVMF.*not installed.*Debian package ovmf/.test(e.message) && /apt-get install ovmf/.test(e.hint ?? ''));
    assert.throws(() => resolveHardware({ firmware: 'uefi' }, env), /Debian package ovmf/);
    // bios needs no firmware file
    assert.deepEqual(resolveHardware({ firmware: 'bios', diskBus: 'nvme' }, env), { firmware: 'bios', diskBus: 'nvme' });
  });

  test('the files named by the environment are used when both exist', () => {
    const d = mkdtempSync(join(tmpdir(), 'ovmf-'));
    writeFileSync(join(d, 'c.fd'), 'c');
    writeFileSync(join(d, 'v.fd'), 'v');
    assert.deepEqual(findOvmf({ VEXFS_IMAGE_OVMF_CODE: join(d, 'c.fd'), VEXFS_IMAGE_OVMF_VARS: join(d, 'v.fd') }), { code: join(d, 'c.fd'), varsTemplate: join(d, 'v.fd') });
  });
});

describe('qemuArgs per profile', () => {
  test('uefi: OVMF code read-only on pflash 0, the VM\'s own variable store writable on pflash 1; no SeaBIOS fw_cfg', () => {
    const a = qemuArgs(spec({ firmware: 'uefi', diskBus: 'virtio-blk', uefi: OVMF }, { uefiVars: '/w/OVMF_VARS.fd' }));
    const drives = valuesOf(a, '-drive');
    assert.equal(drives[0], `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF.code}`);
    assert.equal(drives[1], 'if=pflash,format=raw,unit=1,file=/w/OVMF_VARS.fd');
    assert.ok(!drives.some((d) => d.includes(OVMF.varsTemplate)), 'the shared template is never handed to QEMU');
    assert.deepEqual(valuesOf(a, '-fw_cfg'), []);
  });

  test('uefi without a per-VM variable store is refused', () => {
    assert.throws(() => qemuArgs(spec({ firmware: 'uefi', diskBus: 'virtio-blk', uefi: OVMF })), /own copy of the variable store/);
  });

  test('bios: no pflash, SeaBIOS prints on the serial port', () => {
    const a = qemuArgs(spec({ firmware: 'bios', diskBus: 'virtio-blk' }));
    assert.ok(!valuesOf(a, '-drive').some((d) => d.includes('pflash')));
    assert.deepEqual(valuesOf(a, '-fw_cfg'), ['name=etc/sercon-port,string=0x3f8']);
  });

  const cases: Array<[DiskBus, string[], string]> = [
    ['virtio-blk', ['virtio-blk-pci,drive=drive0,bootindex=0'], 'q35,sata=off,smbus=off,vmport=off'],
    ['virtio-scsi', ['virtio-scsi-pci,id=scsi0', 'scsi-hd,drive=drive0,bus=scsi0.0,bootindex=0'], 'q35,sata=off,smbus=off,vmport=off'],
    ['nvme', ['nvme,drive=drive0,serial=vexfs-boot,bootindex=0'], 'q35,sata=off,smbus=off,vmport=off'],
    ['sata', ['ide-hd,drive=drive0,bus=ide.0,bootindex=0'], 'q35,smbus=off,vmport=off'],
  ];
  for (const [bus, devices, machine] of cases) {
    test(`${bus}: the boot disk on that bus, the seed stays virtio-blk`, () => {
      const a = qemuArgs(spec({ firmware: 'bios', diskBus: bus }));
      const devs = valuesOf(a, '-device').filter((d) => d.includes('drive') || d.startsWith('virtio-scsi'));
      assert.deepEqual(devs, [...devices, 'virtio-blk-pci,drive=drive1']);
      assert.deepEqual(valuesOf(a, '-machine'), [machine]);
    });
  }

  test('a serial number is kept on every bus (nvme: the given one)', () => {
    const a = qemuArgs({ ...spec({ firmware: 'bios', diskBus: 'nvme' }), drives: [{ file: '/w/o.qcow2', format: 'qcow2', serial: 'root' }] });
    assert.ok(valuesOf(a, '-device').includes('nvme,drive=drive0,serial=root,bootindex=0'));
  });

  test('OVMF giving up is a boot failure; one entry failing is not', () => {
    assert.equal(detectBootFailure('BdsDxe: No bootable option or device was found.\r\n')?.kind, 'no bootable device');
    assert.equal(detectBootFailure('BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM" from PciRoot(0x0): Not Found\nBdsDxe: starting Boot0002\n'), undefined);
  });
});

describe('reports carry the profile', () => {
  const row = (profile: string | undefined): ImageResult => ({
    name: 'vexfs-minimal-1.0.0',
    path: '/i/vexfs-minimal-1.0.0.qcow2',
    variant: 'minimal',
    version: '1.0.0',
    identitySource: 'manifest',
    status: 'passed',
    accel: 'tcg',
    ...(profile ? { profile } : {}),
    startedAt: '2026-01-01T00:00:00.000Z',
    timings: { sshReadyMs: 1000, cloudInitDoneMs: 2000, checksMs: 500, totalMs: 4000, steps: [] },
    cloudInit: { status: 'done' },
    checks: [{ id: 'module-loaded', description: 'd', group: 'module', type: 'command', severity: 'error', status: 'passed', message: 'ok', durationMs: 10, attempts: 1 }],
    summary: { total: 1, passed: 1, failed: 0, warnings: 0, skipped: 0, errors: 0 },
  });
  const report = buildReport([row('bios-virtio-blk-2048m-2cpu'), row('uefi-nvme-512m-2cpu')], {
    startedAt: new Date(0),
    finishedAt: new Date(5000),
    toolVersion: 't',
    options: { bootTimeoutS: 1, sshTimeoutS: 1, jobs: 1, accel: 'tcg' },
  });

  test('JUnit: one suite per image and profile, the profile in every classname', () => {
    const x = renderJunit(report);
    assert.equal((x.match(/<testsuite /g) ?? []).length, 2);
    assert.match(x, /<testsuite name="vexfs-minimal-1\.0\.0 \[uefi-nvme-512m-2cpu\]"/);
    assert.match(x, /classname="minimal\.uefi-nvme-512m-2cpu\.boot"/);
    assert.match(x, /classname="minimal\.uefi-nvme-512m-2cpu\.module"/);
    assert.match(x, /classname="minimal\.bios-virtio-blk-2048m-2cpu\.module"/);
    assert.match(x, /<property name="profile" value="uefi-nvme-512m-2cpu"\/>/);
  });

  test('without a matrix the classnames stay as they were', () => {
    const x = renderJunit(buildReport([row(undefined)], { startedAt: new Date(0), finishedAt: new Date(1), toolVersion: 't', options: report.options }));
    assert.match(x, /classname="minimal\.boot"/);
    assert.ok(!x.includes('name="profile"'));
  });

  test('HTML chart and Markdown: a row per image and profile', () => {
    const h = renderHtml(report);
    assert.match(h, /<text [^>]*>vexfs-minimal-1\.0\.0 \[uefi-nvme-512m-2cpu\]<\/text>/);
    assert.match(h, /<text [^>]*>vexfs-minimal-1\.0\.0 \[bios-virtio-blk-2048m-2cpu\]<\/text>/);
    const m = renderMarkdown(report);
    assert.match(m, /\| vexfs-minimal-1\.0\.0 \[uefi-nvme-512m-2cpu\] \|/);
  });

  test('JSON: the profile is a field of the row', () => {
    assert.equal((JSON.parse(JSON.stringify(report)) as { images: ImageResult[] }).images[1]!.profile, 'uefi-nvme-512m-2cpu');
  });
});
