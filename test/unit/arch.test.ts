// Guest architectures (issue 19): the --arch values, the per-architecture table as every consumer
// sees it (profile, QEMU arguments, base recipe, customize hook, file names, image identity), the
// host check with a fake host, and the arm64 probe guest's machine code.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCH_SPECS, ARCHES, archFileStem, parseArch, parseArchList } from '../../src/arch.js';
import { UsageError } from '../../src/errors.js';
import { debianBasePackages, debianRecipe, DEBIAN_GUEST_DIR, recipeKey } from '../../src/base/debian.js';
import { DEBIAN_PRESETS, assertBaseArch } from '../../src/base/presets.js';
import { imageBaseName } from '../../src/builder/context.js';
import { defaultBasePackages } from '../../src/config/variants.js';
import { mmdebstrapArgs } from '../../src/tools/mmdebstrap.js';
import { qemuArgs, qemuBinary, type VmSpec } from '../../src/tools/qemu.js';
import { archHostStatus, assertArchHost, type ArchHostProbe } from '../../src/tools/arch-host.js';
import { arm64ProbeArgs, arm64ProbeCode } from '../../src/tools/arch-probe.js';
import { describeProfile, profileFor, resolveHardware } from '../../src/vm/profile.js';
import { archFromName, identifyImage } from '../../src/validate/discover.js';

const AAVMF = ARCH_SPECS.arm64.uefiCandidates[0]!;
const ALL_HOST: ArchHostProbe = { which: (t) => `/usr/bin/${t}`, exists: () => true };

describe('--arch values', () => {
  test('amd64 and arm64 (and the kernel\'s names for them); nothing given is amd64', () => {
    assert.equal(parseArch('arm64'), 'arm64');
    assert.equal(parseArch('aarch64'), 'arm64');
    assert.equal(parseArch('x86_64'), 'amd64');
    assert.equal(parseArch(undefined), 'amd64');
  });
  test('an unknown architecture is a usage error naming the known ones', () => {
    assert.throws(() => parseArch('riscv64'), (e: unknown) => e instanceof UsageError && /unknown architecture "riscv64": give amd64 or arm64/.test(e.message));
    assert.throws(() => parseArchList('amd64,arm64,amd64'), /amd64 given twice/);
    assert.deepEqual(parseArchList(['amd64,arm64']), ['amd64', 'arm64']);
    assert.throws(() => parseArchList(' , '), /no architecture given/);
  });
});

describe('file names', () => {
  test('amd64 names are as they always were; arm64 gets -arm64, so the two never collide', () => {
    assert.equal(imageBaseName('minimal', '1.0.0'), 'vexfs-minimal-1.0.0');
    assert.equal(imageBaseName('minimal', '1.0.0', 'amd64'), 'vexfs-minimal-1.0.0');
    assert.equal(imageBaseName('minimal', '1.0.0', 'arm64'), 'vexfs-minimal-1.0.0-arm64');
    assert.equal(archFileStem('debian-12', 'arm64'), 'debian-12-arm64');
    assert.deepEqual(archFromName('vexfs-minimal-1.0.0-arm64'), { arch: 'arm64', stem: 'vexfs-minimal-1.0.0' });
  });
});

describe('the image says its architecture (validate and run need no flag)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vexfs-arch-'));
  const img = (name: string, manifest?: object): string => {
    writeFileSync(join(dir, `${name}.qcow2`), '');
    if (manifest) writeFileSync(join(dir, `${name}.json`), JSON.stringify(manifest));
    return join(dir, `${name}.qcow2`);
  };
  test('from the sidecar .json, whatever the file is called', () => {
    const p = img('renamed', { variant: 'minimal', version: '1.0.0', architecture: 'arm64' });
    assert.equal(identifyImage(p).arch, 'arm64');
  });
  test('a manifest from before architectures were recorded is amd64', () => {
    assert.equal(identifyImage(img('old', { variant: 'minimal', version: '1.0.0' })).arch, 'amd64');
  });
  test('without a manifest: the -arm64 name (and the version without it), else --arch, else amd64', () => {
    const t = identifyImage(img('vexfs-minimal-1.2.3-arm64'));
    assert.deepEqual([t.arch, t.variant, t.version], ['arm64', 'minimal', '1.2.3']);
    assert.equal(identifyImage(img('plain')).arch, 'amd64');
    assert.equal(identifyImage(img('plain2'), { arch: 'arm64' }).arch, 'arm64');
  });
  test('--arch that contradicts the image is a usage error', () => {
    const p = img('x', { variant: 'minimal', version: '1.0.0', architecture: 'amd64' });
    assert.throws(() => identifyImage(p, { arch: 'arm64' }), (e: unknown) => e instanceof UsageError && /is an amd64 image/.test(e.message));
  });
});

describe('VM profile and QEMU arguments per architecture', () => {
  const spec = (arch: 'amd64' | 'arm64'): VmSpec => ({
    name: 't',
    profile: profileFor('kvm', 1024, 2, {}, arch === 'arm64' ? { arch, firmware: 'uefi', diskBus: 'virtio-blk', uefi: AAVMF } : { firmware: 'bios', diskBus: 'virtio-blk' }),
    drives: [{ file: '/w/o.qcow2', format: 'qcow2' }],
    serialLog: '/w/serial.log',
    qmpSocket: '/w/qmp.sock',
    uefiVars: '/w/VARS.fd',
  });

  test('arm64: qemu-system-aarch64, virt, AAVMF read-only + its own variables, the TCG CPU; always TCG even when KVM was probed', () => {
    const s = spec('arm64');
    assert.equal(s.profile.accel, 'tcg', 'KVM on an x86_64 host cannot run arm64');
    assert.equal(qemuBinary(s.profile), 'qemu-system-aarch64');
    const a = qemuArgs(s);
    assert.equal(a[a.indexOf('-machine') + 1], 'virt');
    assert.equal(a[a.indexOf('-cpu') + 1], ARCH_SPECS.arm64.tcgCpu);
    assert.ok(a.includes(`if=pflash,format=raw,unit=0,readonly=on,file=${AAVMF.code}`));
    assert.ok(a.includes('if=pflash,format=raw,unit=1,file=/w/VARS.fd'));
    assert.ok(!a.includes('-fw_cfg'), 'no SeaBIOS serial option');
    assert.ok(!a.join(' ').includes('smbus'), 'no q35 options on virt');
    assert.match(describeProfile(s.profile), /^arm64 tcg, virt\/uefi/);
  });

  test('amd64 is unchanged: qemu-system-x86_64 on q35 with the probed accelerator', () => {
    const s = spec('amd64');
    assert.equal(s.profile.accel, 'kvm');
    assert.equal(qemuBinary(s.profile), 'qemu-system-x86_64');
    assert.match(qemuArgs(s)[qemuArgs(s).indexOf('-machine') + 1]!, /^q35,sata=off,smbus=off,vmport=off,accel=kvm$/);
  });

  test('VEXFS_IMAGE_TCG_CPU_ARM64 picks another arm64 CPU; VEXFS_IMAGE_TCG_CPU stays amd64\'s', () => {
    const hw = { arch: 'arm64' as const, firmware: 'uefi' as const, diskBus: 'virtio-blk' as const, uefi: AAVMF };
    assert.equal(profileFor('tcg', 512, 1, { VEXFS_IMAGE_TCG_CPU_ARM64: 'max,pauth-impdef=on', VEXFS_IMAGE_TCG_CPU: 'qemu64' }, hw).cpuModel, 'max,pauth-impdef=on');
  });

  test('arm64 boots UEFI by default; bios and sata are refused (virt has neither)', () => {
    // Judged before the host is looked at, so these hold on any host.
    const env = {};
    assert.throws(() => resolveHardware({ arch: 'arm64', firmware: 'bios' }, env), /arm64 guests boot with uefi only/);
    assert.throws(() => resolveHardware({ arch: 'arm64', diskBus: 'sata' }, env), /cannot use the sata disk bus/);
  });
});

describe('host requirements per architecture', () => {
  test('all there: arm64 firmware found, nothing missing', () => {
    const st = archHostStatus('arm64', ALL_HOST, {});
    assert.deepEqual(st.firmware, AAVMF);
    assert.ok(st.items.every((i) => i.found));
    assert.doesNotThrow(() => assertArchHost('arm64', ['vm', 'base'], {}, ALL_HOST));
  });
  test('nothing there: exit-2 error naming the four Debian packages', () => {
    const none: ArchHostProbe = { which: () => undefined, exists: () => false };
    assert.throws(
      () => assertArchHost('arm64', ['vm', 'base'], {}, none),
      (e: unknown) => e instanceof UsageError && /qemu-system-aarch64 \(Debian package qemu-system-arm\)/.test(e.message) && /apt-get install -y qemu-system-arm qemu-efi-aarch64 qemu-user-static binfmt-support$/.test(e.message),
    );
  });
  test('only what the job needs counts: booting an image needs no qemu-user', () => {
    const noUser: ArchHostProbe = { which: (t) => (t === 'qemu-system-aarch64' ? '/usr/bin/x' : undefined), exists: () => true };
    assert.doesNotThrow(() => assertArchHost('arm64', ['vm'], {}, noUser));
    assert.throws(() => assertArchHost('arm64', ['base'], {}, noUser), /qemu-aarch64-static \(Debian package qemu-user-static\).*apt-get install -y qemu-user-static binfmt-support/);
  });
  test('missing firmware names qemu-efi-aarch64; VEXFS_IMAGE_AAVMF_* name other files', () => {
    const fw: ArchHostProbe = { which: () => '/usr/bin/x', exists: (p) => p === '/opt/CODE.fd' || p === '/opt/VARS.fd' };
    assert.throws(() => assertArchHost('arm64', ['vm'], {}, fw), /UEFI firmware \/usr\/share\/AAVMF\/AAVMF_CODE\.fd \(Debian package qemu-efi-aarch64\)/);
    assert.deepEqual(assertArchHost('arm64', ['vm'], { VEXFS_IMAGE_AAVMF_CODE: '/opt/CODE.fd', VEXFS_IMAGE_AAVMF_VARS: '/opt/VARS.fd' }, fw).firmware, { code: '/opt/CODE.fd', varsTemplate: '/opt/VARS.fd' });
  });
  test('amd64 is never refused here (doctor judges its QEMU, as before)', () => {
    assert.doesNotThrow(() => assertArchHost('amd64', ['vm', 'base'], {}, { which: () => undefined, exists: () => false }));
  });
});

describe('the arm64 base', () => {
  test('its packages: the arm64 cloud kernel and GRUB\'s arm64-efi images instead of amd64\'s', () => {
    const p = debianBasePackages('arm64');
    assert.ok(p.includes('linux-image-cloud-arm64') && p.includes('grub-efi-arm64-bin'));
    assert.ok(!p.some((x) => /amd64|grub-pc/.test(x)));
    assert.deepEqual(defaultBasePackages('arm64').filter((x) => x.startsWith('linux-headers')), ['linux-headers-cloud-arm64']);
  });
  test('its recipe records the architecture, and its cache key says it', async () => {
    const r = await debianRecipe(DEBIAN_PRESETS['debian-12']!, { arch: 'arm64' });
    assert.equal(r.architecture, 'arm64');
    assert.match(recipeKey(r), /^debian-12-arm64-[0-9a-f]{16}$/);
    assert.match(recipeKey(await debianRecipe(DEBIAN_PRESETS['debian-12']!)), /^debian-12-[0-9a-f]{16}$/);
  });
  test('mmdebstrap is asked for arm64 (qemu-user via binfmt is checked by tools/binfmt.ts, not by arch-test)', () => {
    const a = mmdebstrapArgs({ suite: 'bookworm', variant: 'minbase', packages: ['vim'], sources: [], target: '/t', architecture: 'arm64' });
    assert.ok(a.includes('--architectures=arm64') && a.includes('--skip=check/qemu'));
  });
  test('Ubuntu presets are amd64 files: refused for arm64', () => {
    assert.throws(() => assertBaseArch('ubuntu-24.04', 'arm64'), /amd64 cloud image/);
    assert.doesNotThrow(() => assertBaseArch('debian-12', 'arm64'));
  });
  test('the customize hook\'s table agrees with src/arch.ts (GRUB platforms, console)', () => {
    const hook = readFileSync(join(DEBIAN_GUEST_DIR, 'customize.sh'), 'utf8');
    for (const a of ARCHES) {
      const s = ARCH_SPECS[a];
      const line = new RegExp(`^\\s*${a}\\) grub_platforms="${s.grubPlatforms.join(' ')}"; grub_efi=${s.grubEfiPlatform}; grub_extra="${s.grubExtraModules.join(' ')}"; console=${s.console} ;;$`, 'm');
      assert.match(hook, line, `customize.sh's ${a} entry`);
    }
    assert.match(readFileSync(join(DEBIAN_GUEST_DIR, 'grub.cfg.in'), 'utf8'), /console=@CONSOLE@,115200/);
  });
});

describe('the arm64 probe guest', () => {
  test('machine code: UART base in x1, "OK\\n" stored byte by byte, PSCI SYSTEM_OFF by HVC, then a spin', () => {
    const code = arm64ProbeCode();
    const words = Array.from({ length: code.length / 4 }, (_, i) => code.readUInt32LE(i * 4));
    assert.deepEqual(
      words.map((w) => w.toString(16).padStart(8, '0')),
      // movz x1,#0x900,lsl#16; (movz w0,#c; str w0,[x1]) x3; movz w0,#8; movk w0,#0x8400,lsl#16; hvc #0; b .
      ['d2a12001', '528009e0', 'b9000020', '52800960', 'b9000020', '52800140', 'b9000020', '52800100', '72b08000', 'd4000002', '14000000'],
    );
  });
  test('runs on virt from flash under TCG, serial on stdout, no reboot', () => {
    const a = arm64ProbeArgs('/t/p.bin', 'cortex-a57');
    assert.deepEqual(a.slice(0, 6), ['-machine', 'virt', '-cpu', 'cortex-a57', '-accel', 'tcg']);
    assert.ok(a.includes('-bios') && a.includes('-no-reboot'));
  });
});
