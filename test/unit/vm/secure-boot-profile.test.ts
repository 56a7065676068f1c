// The secureboot profile word: parsing, the QEMU arguments (SMM, secure flash), the firmware and
// the image's certificate judged before anything boots (exit 2), and the Secure Boot checks —
// the signature-stripping script run against fake modinfo/insmod/dmesg.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckSchema } from '../../../src/config/schema.js';
import { UsageError } from '../../../src/errors.js';
import { qemuArgs, type VmSpec } from '../../../src/tools/qemu.js';
import { identifyImage } from '../../../src/validate/discover.js';
import { loadedModules, UNSIGNED_REFUSALS, profileForImage, secureBootChecks } from '../../../src/validate/secure-boot.js';
import { parseProfile, parseProfiles, profileFor, profileLabel, resolveHardware } from '../../../src/vm/profile.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

const SB = { code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', secureBoot: true };

function spec(p: ReturnType<typeof profileFor>): VmSpec {
  return { name: 't', profile: p, drives: [{ file: '/w/o.qcow2', format: 'qcow2' }], serialLog: '/w/s.log', qmpSocket: '/w/q.sock', uefiVars: '/w/vars.fd' };
}

describe('secureboot profile', () => {
  test('the word implies uefi; secureboot=nomok; labels say so', () => {
    assert.deepEqual(parseProfile('secureboot'), { firmware: 'uefi', diskBus: 'virtio-blk', secureBoot: 'mok' });
    assert.deepEqual(parseProfile('uefi,secureboot,nvme,1G'), { firmware: 'uefi', diskBus: 'nvme', secureBoot: 'mok', memoryMb: 1024 });
    assert.deepEqual(parseProfile('secureboot=nomok'), { firmware: 'uefi', diskBus: 'virtio-blk', secureBoot: 'nomok' });
    const [a, b] = parseProfiles(['secureboot', 'secureboot=nomok'], { memoryMb: 2048, cpus: 2 });
    assert.equal(profileLabel(a!), 'uefi-sb-virtio-blk-2048m-2cpu');
    assert.equal(profileLabel(b!), 'uefi-sb-nomok-virtio-blk-2048m-2cpu');
    assert.equal(profileLabel(parseProfiles(['uefi'], { memoryMb: 2048, cpus: 2 })[0]!), 'uefi-virtio-blk-2048m-2cpu', 'other labels unchanged');
  });

  test('bad combinations and values are usage errors', () => {
    assert.throws(() => parseProfile('bios,secureboot'), (e: unknown) => e instanceof UsageError && /secureboot needs uefi firmware, not bios/.test(e.message));
    assert.throws(() => parseProfile('secureboot=maybe'), /unknown secureboot mode "maybe": give mok or nomok/);
    assert.throws(() => parseProfile('secureboot,secureboot=nomok'), /given twice/);
  });

  test('QEMU: SMM on and the secure pflash; plain uefi has neither', () => {
    const sb = qemuArgs(spec(profileFor('tcg', 1024, 2, {}, { firmware: 'uefi', diskBus: 'virtio-blk', uefi: SB, secureBoot: 'mok' })));
    assert.match(sb[sb.indexOf('-machine') + 1]!, /^q35,sata=off,smbus=off,vmport=off,smm=on$/);
    assert.ok(sb.join(' ').includes('-global driver=cfi.pflash01,property=secure,value=on'));
    assert.ok(sb.includes(`if=pflash,format=raw,unit=0,readonly=on,file=${SB.code}`));
    const plain = qemuArgs(spec(profileFor('tcg', 1024, 2, {}, { firmware: 'uefi', diskBus: 'virtio-blk', uefi: { code: '/c.fd', varsTemplate: '/v.fd' } })));
    assert.ok(!plain.join(' ').includes('smm=on') && !plain.includes('-global'));
  });

  test('no Secure Boot firmware on the host: exit 2 naming the ovmf package', () => {
    const env = { VEXFS_IMAGE_OVMF_SECBOOT_CODE: '/nonexistent/code.fd', VEXFS_IMAGE_OVMF_SECBOOT_VARS: '/nonexistent/vars.fd' };
    assert.throws(() => resolveHardware({ firmware: 'uefi', secureBoot: 'mok' }, env), (e: unknown) => e instanceof UsageError && /secureboot profile needs OVMF's Secure Boot firmware.*\/nonexistent\/code\.fd.*Debian package ovmf/.test(e.message));
  });

  test('Debian\'s secboot firmware is found when installed', { skip: existsSync(SB.code) ? false : 'ovmf is not installed' }, () => {
    const hw = resolveHardware({ firmware: 'uefi', secureBoot: 'nomok' }, {});
    assert.deepEqual(hw.uefi, SB);
    assert.equal(profileFor('tcg', 1024, 2, {}, hw).secureBoot, 'nomok');
  });
});

describe('the image\'s certificate (profileForImage)', () => {
  const hw = { firmware: 'uefi' as const, diskBus: 'virtio-blk' as const, uefi: SB };
  test('named by the sidecar manifest: enrolled; nomok and plain profiles unchanged', () => {
    const dir = tempDir('vexfs-sb-');
    writeFileSync(join(dir, 'vexfs-minimal-1.0.0.qcow2'), '');
    writeFileSync(join(dir, 'vexfs-minimal-1.0.0.json'), JSON.stringify({ variant: 'minimal', version: '1.0.0', supply: { signing: { certificate: { name: 'vexfs-minimal-1.0.0.signing.crt' } } } }));
    writeFileSync(join(dir, 'vexfs-minimal-1.0.0.signing.crt'), 'x');
    const target = identifyImage(join(dir, 'vexfs-minimal-1.0.0.qcow2'));
    const p = profileForImage(profileFor('tcg', 1024, 2, {}, { ...hw, secureBoot: 'mok' }), target);
    assert.deepEqual(p.uefi?.mokCertificates, [join(dir, 'vexfs-minimal-1.0.0.signing.crt')]);
    const nomok = profileFor('tcg', 1024, 2, {}, { ...hw, secureBoot: 'nomok' });
    assert.equal(profileForImage(nomok, target), nomok);
  });

  test('no manifest, no signing in it, or the file gone: exit 2 before anything boots', () => {
    const dir = tempDir('vexfs-sb-');
    const img = join(dir, 'vexfs-minimal-1.0.0.qcow2');
    writeFileSync(img, '');
    const p = profileFor('tcg', 1024, 2, {}, { ...hw, secureBoot: 'mok' });
    assert.throws(() => profileForImage(p, identifyImage(img)), (e: unknown) => e instanceof UsageError && /manifest .* cannot be read/.test(e.message));
    writeFileSync(join(dir, 'vexfs-minimal-1.0.0.json'), JSON.stringify({ variant: 'minimal', version: '1.0.0' }));
    assert.throws(() => profileForImage(p, identifyImage(img)), /names no module-signing certificate \(built without signing:\)/);
    writeFileSync(join(dir, 'vexfs-minimal-1.0.0.json'), JSON.stringify({ variant: 'minimal', version: '1.0.0', supply: { signing: { certificate: { name: 'gone.crt' } } } }));
    assert.throws(() => profileForImage(p, identifyImage(img)), /gone\.crt .* does not exist/);
  });
});

describe('Secure Boot checks', () => {
  const payloadChecks = [
    CheckSchema.parse({ id: 'module-info', type: 'kernel-module', module: 'scratchfs', expect: { available: true } }),
    CheckSchema.parse({ id: 'module-load', type: 'kernel-module', module: 'scratchfs', action: 'load' }),
  ];

  test('enabled, lockdown, and per module a signed load and an unsigned copy refused', () => {
    assert.deepEqual(loadedModules(payloadChecks), ['scratchfs']);
    assert.deepEqual(secureBootChecks(payloadChecks).map((c) => c.id), ['secure-boot-enabled', 'kernel-lockdown', 'secure-boot-signed-load', 'secure-boot-unsigned-refused']);
  });

  /** Runs the unsigned-refused check's script with fake module tools; returns its status and output. */
  function runRefusal(dir: string, insmodRefuses: boolean): { status: number | null; out: string } {
    const ko = join(dir, 'scratchfs.ko');
    const body = Buffer.from('\x7fELF module body');
    const sig = Buffer.alloc(300, 7);
    const info = Buffer.alloc(12);
    info.writeUInt32BE(sig.length, 8);
    writeFileSync(ko, Buffer.concat([body, sig, info, Buffer.from('~Module signature appended~\n')]));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    fakeBin(bin, 'modinfo', `echo ${ko}`);
    fakeBin(bin, 'rmmod', 'exit 0');
    fakeBin(bin, 'dmesg', `cat ${dir}/dmesg 2>/dev/null; true`);
    fakeBin(bin, 'insmod', insmodRefuses
      ? `cp "$1" ${dir}/inserted.ko; echo "[ 9.1] ${UNSIGNED_REFUSALS[0]}" >> ${dir}/dmesg; echo "insmod: ERROR: could not insert module $1: Key was rejected by service" >&2; exit 1`
      : `cp "$1" ${dir}/inserted.ko; exit 0`);
    const check = secureBootChecks(payloadChecks).find((c) => c.id === 'secure-boot-unsigned-refused');
    assert.ok(check && check.type === 'command');
    // /proc/modules is the host's: scratchfs is not in it.
    const r = spawnSync('bash', ['-c', check.command], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    assert.ok(readFileSync(join(dir, 'inserted.ko')).equals(body), 'insmod got the module without its signature');
    return { status: r.status, out: r.stdout + r.stderr };
  }

  test('the script cuts the signature off exactly and passes only when insmod is refused with the lockdown message', () => {
    const refused = runRefusal(tempDir('vexfs-sb-'), true);
    assert.equal(refused.status, 0, refused.out);
    assert.match(refused.out, /insmod refused the unsigned copy: .*Key was rejected by service/);
    assert.match(refused.out, /Loading of unsigned module is rejected/);
    const loaded = runRefusal(tempDir('vexfs-sb-'), false);
    assert.equal(loaded.status, 1);
    assert.match(loaded.out, /the unsigned copy of scratchfs was loaded/);
  });
});
