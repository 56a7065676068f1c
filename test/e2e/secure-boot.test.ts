// End-to-end, issue 18 (Secure Boot): a scratchfs image built with `signing:` (a key made with
// openssl) is validated under `--profile secureboot`: OVMF's Secure Boot firmware with Microsoft's
// keys, the image's published certificate written offline as shim's MokList into the VM's
// variable store, the boot through Debian's shim, signed GRUB and signed kernel; in the guest
// Secure Boot is on, the kernel is locked down, the signed module loads and a copy with its
// signature cut off is refused by insmod. The same image under plain UEFI boots too (same ESP),
// and under `secureboot=nomok` (nothing enrolled) the signed module itself is refused.
// Missing firmware or certificate: exit 2 before anything boots.
// Behind VEXFS_E2E_SECUREBOOT=1 (a build and three validations: 282 s under TCG with the base cached).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/fs.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const ON = process.env.VEXFS_E2E_SECUREBOOT === '1';
const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'scratchfs-tree');
const VERSION = '0.6.0-secureboot';
const IMAGE = `vexfs-minimal-${VERSION}`;
const SIGNER = 'ScratchFS e2e Secure Boot MOK';
const SB_CHECKS = ['secure-boot-enabled', 'kernel-lockdown', 'secure-boot-signed-load', 'secure-boot-unsigned-refused'];

interface Check { id: string; status: string; message?: string; output?: string }
interface Row { profile?: string; status: string; checks: Check[]; timings: { sshReadyMs: number | null; totalMs: number }; error?: unknown }

function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, timeoutMs = 1_800_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true', ...env }, timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const byId = (row: Row): Map<string, Check> => new Map(row.checks.map((c) => [c.id, c]));

describe('Secure Boot (VEXFS_E2E_SECUREBOOT=1)', { skip: ON ? false : 'set VEXFS_E2E_SECUREBOOT=1 (a build and three validations)', timeout: 75 * 60_000 }, () => {
  const work = tempDir('vexfs-e2e-secureboot-');
  const source = join(work, 'scratchfs');
  const out = join(work, 'images');
  const image = join(out, `${IMAGE}.qcow2`);
  let built = false;

  before(() => {
    cpSync(FIXTURE, source, { recursive: true });
    writeFileSync(join(source, 'vexfs-image.yaml'), 'payload:\n  build: { command: make modules }\n  modules:\n    - { name: scratchfs, path: kernel_module/scratchfs.ko, filesystem: scratch }\nsigning: { key: signing.key, certificate: signing.crt }\n');
    const r = spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:3072', '-nodes', '-days', '3650', '-subj', `/CN=${SIGNER}`, '-addext', 'extendedKeyUsage=codeSigning', '-keyout', join(source, 'signing.key'), '-out', join(source, 'signing.crt')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  test('build a signed image (shim and signed GRUB on its ESP)', () => {
    const r = cli(['build', '--source', source, '--variant', 'minimal', '--version', VERSION, '--output-dir', out, '--build-dir', join(work, 'build'), '--timeout', '1500'], work);
    assert.equal(r.status, 0, r.stderr.slice(-4000));
    assert.ok(existsSync(join(out, `${IMAGE}.signing.crt`)));
    built = true;
  });

  test('exit 2 before anything boots: no Secure Boot firmware; an image without its certificate', (t) => {
    if (!built) return t.skip('no image (the build failed)');
    const noFw = cli(['validate', image, '--source', source, '--profile', 'secureboot'], work, { VEXFS_IMAGE_OVMF_SECBOOT_CODE: '/nonexistent/OVMF_CODE.secboot.fd', VEXFS_IMAGE_OVMF_SECBOOT_VARS: '/nonexistent/OVMF_VARS.ms.fd' }, 120_000);
    assert.equal(noFw.status, 2, noFw.stderr);
    assert.match(noFw.stderr, /Secure Boot firmware .*Debian package ovmf/);
    // The image alone (a hard link, no manifest or certificate beside it).
    const lone = join(work, 'lone');
    mkdirSync(lone);
    linkSync(image, join(lone, `${IMAGE}.qcow2`));
    const noCert = cli(['validate', join(lone, `${IMAGE}.qcow2`), '--source', source, '--profile', 'secureboot', '--variant', 'minimal', '--version', VERSION], work, {}, 120_000);
    assert.equal(noCert.status, 2, noCert.stderr);
    assert.match(noCert.stderr, /module-signing certificate/);
    assert.doesNotMatch(noFw.stderr + noCert.stderr, /QEMU pid/, 'nothing booted');
  });

  test('secureboot: Secure Boot on, lockdown, the signed module loads, an unsigned copy is refused; plain uefi boots the same image', (t) => {
    if (!built) return t.skip('no image (the build failed)');
    const r = cli(['validate', image, '--source', source, '--profile', 'secureboot', '--profile', 'uefi', '--report-dir', join(work, 'report'), '--format', 'json'], work, {}, 1_800_000);
    const report = JSON.parse(readFileSync(join(work, 'report', 'validation.json'), 'utf8')) as { images: Row[] };
    const sb = report.images.find((i) => i.profile?.startsWith('uefi-sb-'));
    const plain = report.images.find((i) => i.profile?.startsWith('uefi-virtio'));
    assert.ok(sb && plain, JSON.stringify(report.images.map((i) => i.profile)));
    t.diagnostic(`SSH ready: Secure Boot ${sb.timings.sshReadyMs} ms, plain UEFI ${plain.timings.sshReadyMs} ms; rows ${sb.timings.totalMs} / ${plain.timings.totalMs} ms`);
    assert.equal(r.status, 0, `${r.stderr.slice(-3000)}\n${JSON.stringify(report.images.map((i) => ({ p: i.profile, e: i.error, bad: i.checks.filter((c) => c.status !== 'passed') })), null, 1)}`);
    const c = byId(sb);
    for (const id of [...SB_CHECKS, 'module-load', 'module-signed', 'mount-rw', 'module-unload']) assert.equal(c.get(id)?.status, 'passed', `${id}: ${JSON.stringify(c.get(id))}`);
    assert.match(JSON.stringify(c.get('kernel-lockdown')), /\[integrity\]|\[confidentiality\]/);
    assert.match(JSON.stringify(c.get('secure-boot-unsigned-refused')), /insmod refused the unsigned copy/);
    // Plain UEFI: none of the Secure Boot checks, every check passed.
    assert.ok(!plain.checks.some((x) => SB_CHECKS.includes(x.id)));
    assert.equal(plain.status, 'passed');
    // The serial console shows the chain: shim's signed GRUB loaded the Debian-signed kernel.
    const logs = readdirSync(join(work, 'report', 'logs'));
    const sbLog = logs.find((d) => d.includes('uefi-sb-'));
    assert.ok(sbLog, logs.join(','));
    const serial = readFileSync(join(work, 'report', 'logs', sbLog, 'serial.log'), 'latin1');
    assert.match(serial, /Secure boot enabled|secureboot: Secure boot enabled/i, 'the kernel reports Secure Boot');
  });

  test('secureboot=nomok: nothing enrolled, the signed module is refused (and the unsigned copy too)', (t) => {
    if (!built) return t.skip('no image (the build failed)');
    const r = cli(['validate', image, '--source', source, '--profile', 'secureboot=nomok', '--report-dir', join(work, 'report-nomok'), '--format', 'json'], work, {}, 1_800_000);
    assert.equal(r.status, 1, r.stdout + r.stderr.slice(-3000));
    const row = (JSON.parse(readFileSync(join(work, 'report-nomok', 'validation.json'), 'utf8')) as { images: Row[] }).images[0]!;
    assert.equal(row.profile, 'uefi-sb-nomok-virtio-blk-2048m-2cpu');
    const failed = row.checks.filter((x) => x.status === 'failed' || x.status === 'error').map((x) => x.id).sort();
    assert.deepEqual(failed, ['module-load', 'secure-boot-signed-load'], JSON.stringify(row.checks.filter((x) => x.status !== 'passed'), null, 1));
    const c = byId(row);
    for (const id of ['secure-boot-enabled', 'kernel-lockdown', 'secure-boot-unsigned-refused', 'module-signed']) assert.equal(c.get(id)?.status, 'passed', id);
    assert.match(JSON.stringify(c.get('module-load')), /Key was rejected|Operation not permitted|Required key not available/);
  });
});
