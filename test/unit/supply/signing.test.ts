import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { resolveSigning, signingMaterial } from '../../../src/supply/signing.js';
import { parseSigned, withSigned } from '../../../src/builder/sign.js';
import { derivePayloadChecks } from '../../../src/config/payload-checks.js';
import { DEFAULT_PAYLOAD } from '../../../src/config/payload.js';
import { parseConfigText } from '../../../src/config/load.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

/** A key and self-signed certificate made with the openssl CLI (as a user would make them). */
function keyPair(dir: string, name: string, cn: string, extra: string[] = []): { key: string; cert: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  const r = spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', key, '-out', cert, ...(extra.length ? extra : ['-nodes'])], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { key, cert };
}

describe('signing: the key and certificate judged before anything starts', { skip: !hasOpenssl && 'openssl not installed' }, () => {
  const dir = tempDir();
  const good = keyPair(dir, 'good', 'VexFS module signing');
  const other = keyPair(dir, 'other', 'someone else');

  test('a matching pair: the signer is the CN, the certificate known by its fingerprint; paths relative to the config', () => {
    const plan = resolveSigning({ key: 'good.key', certificate: 'good.crt' }, dir, {});
    assert.equal(plan?.mode, 'given');
    if (plan?.mode !== 'given') return;
    assert.equal(plan.signer, 'VexFS module signing');
    assert.equal(plan.keyPath, good.key);
    assert.match(plan.certificateSha256, /^[0-9a-f]{64}$/);
    const m = signingMaterial(plan, {});
    assert.match(m.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(m.certificatePem, /^-----BEGIN CERTIFICATE-----\n/);
  });

  test('generate: true needs no files', () => {
    assert.deepEqual(resolveSigning({ generate: true }, dir, {}), { mode: 'generate' });
    assert.equal(resolveSigning(undefined, dir, {}), undefined);
  });

  const cases: Array<[string, () => Parameters<typeof resolveSigning>, RegExp]> = [
    ['a missing key', () => [{ key: 'nope.key', certificate: 'good.crt' }, dir, {}], /^signing\.key .*nope\.key does not exist$/],
    ['a key that is a directory', () => [{ key: '.', certificate: 'good.crt' }, dir, {}], /is a directory/],
    ['a certificate that is no certificate', () => [{ key: good.key, certificate: good.key }, dir, {}], /^signing\.certificate .* is not an X\.509 certificate/],
    ['a key that is no key', () => [{ key: good.cert, certificate: good.cert }, dir, {}], /^signing\.key .* is not a private key/],
    ['a key of another certificate', () => [{ key: other.key, certificate: good.cert }, dir, {}], /does not match signing\.certificate .*good\.crt \(their public keys differ\)/],
    ['key without certificate', () => [{ key: good.key }, dir, {}], /needs key and certificate \(paths\), or generate: true/],
    ['both generate and a key', () => [{ generate: true, key: good.key }, dir, {}], /either generate: true or key and certificate, not both/],
  ];
  for (const [what, args, re] of cases) {
    test(`${what}: a usage error (exit 2)`, () => {
      assert.throws(() => resolveSigning(...args()), (e: Error & { code?: string }) => {
        assert.match(e.message, re);
        assert.equal(e.name, 'UsageError');
        return true;
      });
    });
  }

  test('an unreadable key (not as root: root reads anything)', { skip: process.getuid?.() === 0 && 'running as root' }, () => {
    const k = join(dir, 'locked.key');
    writeFileSync(k, 'x');
    chmodSync(k, 0);
    assert.throws(() => resolveSigning({ key: k, certificate: good.cert }, dir, {}), /is not readable/);
  });

  test('an encrypted key: refused without KBUILD_SIGN_PIN, refused with a wrong one, taken with the right one', () => {
    const enc = keyPair(dir, 'enc', 'encrypted signer', ['-passout', 'pass:s3cret']);
    assert.throws(() => resolveSigning({ key: enc.key, certificate: enc.cert }, dir, {}), /is encrypted and no passphrase was given/);
    assert.throws(() => resolveSigning({ key: enc.key, certificate: enc.cert }, dir, { KBUILD_SIGN_PIN: 'wrong' }), /KBUILD_SIGN_PIN is not its passphrase|is not a private key/);
    const plan = resolveSigning({ key: enc.key, certificate: enc.cert }, dir, { KBUILD_SIGN_PIN: 's3cret' });
    assert.equal(plan?.mode === 'given' && plan.signer, 'encrypted signer');
    // What goes to the VM is decrypted on the host: the passphrase never travels.
    if (plan?.mode === 'given') assert.match(signingMaterial(plan, { KBUILD_SIGN_PIN: 's3cret' }).keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });
});

test('the config takes signing: with key and certificate or generate, nothing else', () => {
  assert.deepEqual(parseConfigText('signing: { key: a.key, certificate: a.crt }\n', 'x.yaml').signing, { key: 'a.key', certificate: 'a.crt' });
  assert.deepEqual(parseConfigText('signing: { generate: true }\n', 'x.yaml').signing, { generate: true });
  assert.throws(() => parseConfigText('signing: { keyfile: a.key }\n', 'x.yaml'), /unknown key signing\.keyfile/);
});

test('sign-modules.sh results: signed modules in order; their new digests replace the unsigned ones', () => {
  const results = { signed_1: 'b\t/lib/modules/k/extra/b.ko\t2048\t' + 'b'.repeat(64) + '\tAA:BB', signed_0: 'a\t/lib/modules/k/extra/a.ko\t1024\t' + 'a'.repeat(64) + '\t01:02', certificate_b64: 'x' };
  const signed = parseSigned(results);
  assert.deepEqual(signed.map((s) => [s.name, s.size, s.keyId]), [['a', 1024, '01:02'], ['b', 2048, 'AA:BB']]);
  const artifacts = withSigned(
    [
      { kind: 'module', name: 'a', path: '/lib/modules/k/extra/a.ko', size: 900, sha256: '0'.repeat(64) },
      { kind: 'tool', name: 'a', path: '/usr/bin/a', size: 5, sha256: '1'.repeat(64) },
    ],
    signed,
  );
  assert.deepEqual(artifacts.map((a) => [a.kind, a.size, a.sha256[0]]), [['module', 1024, 'a'], ['tool', 5, '1']]);
});

test('signing: in the config adds a module-signed check after modinfo, per module; none without it', () => {
  const ids = (signed: boolean): string[] => derivePayloadChecks(DEFAULT_PAYLOAD, { signed }).head.map((c) => c.id);
  assert.ok(!ids(false).some((id) => id.startsWith('module-signed')));
  const withIt = ids(true);
  assert.ok(withIt.indexOf('module-signed') > withIt.indexOf('module-info'), withIt.join(' '));
  const check = derivePayloadChecks(DEFAULT_PAYLOAD, { signed: true }).head.find((c) => c.id === 'module-signed')!;
  assert.deepEqual(check.needs, ['module-info']);
  assert.match(JSON.stringify(check), /modinfo -F signer vexfs/);
});
