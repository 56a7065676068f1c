import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBaseSpec, parseChecksum, parseSha256Sums, PRESET_NAMES } from '../../../src/base/presets.js';
import { UsageError } from '../../../src/errors.js';

const HEX = 'ab'.repeat(32);

describe('parseBaseSpec', () => {
  test('Debian presets are built, with their suite', () => {
    assert.deepEqual(parseBaseSpec('debian-13'), { kind: 'debian', preset: { name: 'debian-13', version: '13', suite: 'trixie' } });
    assert.equal((parseBaseSpec('debian-12') as { preset: { suite: string } }).preset.suite, 'bookworm');
  });

  test('Ubuntu presets download from the release directory with its SHA256SUMS', () => {
    const s = parseBaseSpec('ubuntu-24.04');
    assert.equal(s.kind, 'download');
    if (s.kind !== 'download') return;
    assert.equal(s.url, 'https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img');
    assert.equal(s.checksumsUrl, 'https://cloud-images.ubuntu.com/releases/noble/release/SHA256SUMS');
    assert.equal(s.fileName, 'ubuntu-24.04-server-cloudimg-amd64.img');
    const j = parseBaseSpec('ubuntu-22.04', { ubuntuMirror: 'http://mirror.local/ubuntu/' });
    assert.equal(j.kind === 'download' && j.url, 'http://mirror.local/ubuntu/jammy/release/ubuntu-22.04-server-cloudimg-amd64.img');
  });

  test('a URL uses the SHA256SUMS beside it, or --checksum instead', () => {
    const s = parseBaseSpec('http://127.0.0.1:8080/images/disk.qcow2');
    assert.equal(s.kind === 'download' && s.checksumsUrl, 'http://127.0.0.1:8080/images/SHA256SUMS');
    const c = parseBaseSpec('http://127.0.0.1:8080/images/disk.qcow2', { checksum: `sha256:${HEX.toUpperCase()}` });
    assert.equal(c.kind === 'download' && c.sha256, HEX);
    assert.equal(c.kind === 'download' && c.checksumsUrl, undefined);
  });

  test('paths are local files; unknown names and schemes are usage errors', () => {
    assert.deepEqual(parseBaseSpec('./my.qcow2'), { kind: 'local', path: './my.qcow2' });
    assert.deepEqual(parseBaseSpec('/srv/images/base.img'), { kind: 'local', path: '/srv/images/base.img' });
    assert.throws(() => parseBaseSpec('debian-14'), (e: unknown) => e instanceof UsageError && /unknown distro/.test(e.message) && /debian-13/.test(e.hint ?? ''));
    assert.throws(() => parseBaseSpec('ftp://host/x.img'), UsageError);
    assert.throws(() => parseBaseSpec('debian-13', { checksum: `sha256:${HEX}` }), UsageError);
    assert.throws(() => parseBaseSpec('./x.qcow2', { checksum: `sha256:${HEX}` }), UsageError);
  });

  test('every preset name parses', () => {
    for (const n of PRESET_NAMES) assert.notEqual(parseBaseSpec(n).kind, 'local');
  });
});

describe('checksums', () => {
  test('parseChecksum accepts sha256:HEX and bare HEX, rejects the rest', () => {
    assert.equal(parseChecksum(`sha256:${HEX}`), HEX);
    assert.equal(parseChecksum(HEX), HEX);
    assert.throws(() => parseChecksum('md5:abc'), UsageError);
    assert.throws(() => parseChecksum(`sha256:${HEX.slice(1)}`), UsageError);
  });

  test('parseSha256Sums reads text and binary (*) entries', () => {
    const m = parseSha256Sums(`${HEX} *ubuntu.img\n${'cd'.repeat(32)}  other file.img\nnot a line\n`);
    assert.equal(m.get('ubuntu.img'), HEX);
    assert.equal(m.get('other file.img'), 'cd'.repeat(32));
    assert.equal(m.size, 2);
  });
});
