// End-to-end, issue 18 (signed module): test/fixtures/scratchfs-tree built with `signing:` (a key
// and certificate made with openssl, as a user would): the module is signed in the build VM with
// the image kernel's own sign-file, the certificate is published beside the image and listed in
// the manifest and provenance, and validation's module-signed check passes; a copy of the image
// whose module has its signature stripped (debugfs, offline) fails exactly that check. Bad keys
// exit 2 before anything boots.
// Behind VEXFS_E2E_SIGNING=1 (a build and two validations, ~8 minutes under TCG).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../helpers/fs.js';
import { breakCopy, debugfsWrite } from '../helpers/image-edit.js';
import { PACKAGE_ROOT } from '../../src/paths.js';

const ON = process.env.VEXFS_E2E_SIGNING === '1';
const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const FIXTURE = join(PACKAGE_ROOT, 'test', 'fixtures', 'scratchfs-tree');
const VERSION = '0.5.0-signed';
const IMAGE = `vexfs-minimal-${VERSION}`;
const SIGNER = 'ScratchFS e2e module signing';

function cli(args: string[], cwd: string, timeoutMs = 1_800_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(BIN, args, { cwd, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The module without its appended PKCS#7 signature (what it was before sign-file). */
function stripSignature(ko: Buffer): Buffer {
  const magic = Buffer.from('~Module signature appended~\n');
  assert.ok(ko.subarray(ko.length - magic.length).equals(magic), 'the module carries no signature');
  // struct module_signature (12 bytes) before the magic; its last 4 bytes: sig_len, big-endian.
  const sigLen = ko.readUInt32BE(ko.length - magic.length - 4);
  return ko.subarray(0, ko.length - magic.length - 12 - sigLen);
}

describe('signed module (VEXFS_E2E_SIGNING=1)', { skip: ON ? false : 'set VEXFS_E2E_SIGNING=1 (a build and two validations)', timeout: 60 * 60_000 }, () => {
  const work = tempDir('vexfs-e2e-signing-');
  const source = join(work, 'scratchfs');
  const out = join(work, 'images');
  const buildDir = join(work, 'build');
  const config = 'payload:\n  build: { command: make modules }\n  modules:\n    - { name: scratchfs, path: kernel_module/scratchfs.ko, filesystem: scratch }\nsigning: { key: signing.key, certificate: signing.crt }\n';

  before(() => {
    cpSync(FIXTURE, source, { recursive: true });
    writeFileSync(join(source, 'vexfs-image.yaml'), config);
    const r = spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:3072', '-nodes', '-days', '3650', '-subj', `/CN=${SIGNER}`, '-addext', 'extendedKeyUsage=codeSigning', '-keyout', join(source, 'signing.key'), '-out', join(source, 'signing.crt')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  test('bad keys: exit 2 with one line before anything boots, nothing written', () => {
    const other = join(work, 'other');
    spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=other', '-keyout', `${other}.key`, '-out', `${other}.crt`]);
    spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-days', '1', '-subj', '/CN=enc', '-passout', 'pass:pw', '-keyout', `${other}-enc.key`, '-out', `${other}-enc.crt`]);
    const cases: Array<[string, RegExp]> = [
      ['signing: { key: missing.key, certificate: signing.crt }', /signing\.key .*missing\.key does not exist/],
      [`signing: { key: ${other}.key, certificate: signing.crt }`, /does not match signing\.certificate/],
      [`signing: { key: ${other}-enc.key, certificate: ${other}-enc.crt }`, /is encrypted and no passphrase was given/],
      ['signing: { key: signing.key }', /needs key and certificate/],
    ];
    for (const [line, re] of cases) {
      const src = join(work, `bad-${readdirSync(work).length}`);
      cpSync(source, src, { recursive: true });
      writeFileSync(join(src, 'vexfs-image.yaml'), config.replace(/^signing:.*$/m, line));
      const r = cli(['build', '--source', src, '--variant', 'minimal', '--version', VERSION, '--output-dir', join(src, 'out'), '--build-dir', join(src, 'build')], work, 60_000);
      assert.equal(r.status, 2, `${line}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').filter((l) => l.startsWith('vexfs-image: error:')).length, 1, r.stderr);
      assert.ok(!existsSync(join(src, 'out')) && !existsSync(join(src, 'build')), `${line}: something was written`);
    }
  });

  let image: string | undefined;
  test('the build signs the module with the kernel\'s sign-file; certificate published, in manifest and provenance', () => {
    const r = cli(['build', '--source', source, '--variant', 'minimal', '--version', VERSION, '--output-dir', out, '--build-dir', buildDir, '--timeout', '1500'], work);
    assert.equal(r.status, 0, r.stderr.slice(-4000));
    assert.match(r.stderr, new RegExp(`signed scratchfs\\.ko: signer "${SIGNER}"`));
    image = join(out, `${IMAGE}.qcow2`);
    const m = JSON.parse(readFileSync(join(out, `${IMAGE}.json`), 'utf8'));
    const s = m.supply.signing;
    assert.equal(s.signer, SIGNER);
    assert.equal(s.generated, false);
    assert.equal(s.certificate.name, `${IMAGE}.signing.crt`);
    const cert = readFileSync(join(out, s.certificate.name), 'utf8');
    // The published certificate is the one given (the same public key), never a private key.
    const given = spawnSync('openssl', ['x509', '-in', join(source, 'signing.crt'), '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).stdout;
    const published = spawnSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256'], { input: cert, encoding: 'utf8' }).stdout;
    assert.equal(published, given);
    assert.doesNotMatch(cert, /PRIVATE KEY/);
    for (const f of readdirSync(out)) assert.doesNotMatch(readFileSync(join(out, f)).subarray(0, 2 ** 20).toString('latin1'), /BEGIN PRIVATE KEY/, `${f} holds a private key`);
    assert.equal(s.modules.length, 1);
    const ko = m.artifacts.find((a: { kind: string }) => a.kind === 'module');
    assert.equal(s.modules[0].sha256, ko.sha256, 'the manifest lists the signed module\'s digest');
    const prov = JSON.parse(readFileSync(join(out, `${IMAGE}.intoto.json`), 'utf8'));
    assert.ok(prov.subject.some((x: { name: string }) => x.name === s.certificate.name), 'the certificate is a provenance subject');
    assert.match(readFileSync(join(out, `${IMAGE}.manifest`), 'utf8'), new RegExp(`Module signing: +signer "${SIGNER}"`));
  });

  test('validation: module-signed passes; a copy with the signature stripped fails exactly that check', async (t) => {
    if (!image) return t.skip('no image (the build failed)');
    const ok = cli(['validate', image, '--source', source, '--report-dir', join(work, 'report'), '--format', 'json'], work, 900_000);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(readFileSync(join(work, 'report', 'validation.json'), 'utf8'));
    const signed = report.images[0].checks.find((c: { id: string }) => c.id === 'module-signed');
    assert.equal(signed?.status, 'passed', JSON.stringify(signed));

    const copyDir = join(work, 'stripped');
    const copy = join(copyDir, `${IMAGE}.qcow2`);
    await breakCopy(image, copy, async (debugfs, kernel) => {
      const path = `/usr/lib/modules/${kernel}/extra/scratchfs/scratchfs.ko`;
      const local = join(work, 'scratchfs.ko');
      await debugfs(['-R', `dump ${path} ${local}`]);
      await writeFile(local, stripSignature(await readFile(local)));
      await debugfsWrite(debugfs, work, [`rm ${path}`, `write ${local} ${path}`]);
    });
    const bad = cli(['validate', copy, '--source', source, '--report-dir', join(work, 'report-stripped'), '--format', 'json'], work, 900_000);
    assert.equal(bad.status, 1, bad.stdout + bad.stderr);
    const r2 = JSON.parse(readFileSync(join(work, 'report-stripped', 'validation.json'), 'utf8'));
    const failed = r2.images[0].checks.filter((c: { status: string }) => c.status === 'failed' || c.status === 'error').map((c: { id: string }) => c.id);
    assert.deepEqual(failed, ['module-signed']);
  });
});
