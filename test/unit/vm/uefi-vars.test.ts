// The offline OVMF variable-store writer (MokList for Secure Boot validation): what it writes
// parses back, the firmware's own variables stay, bad input and a full store are refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, VexfsImageError } from '../../../src/errors.js';
import {
  certificateDer,
  findVariable,
  guidBytes,
  guidString,
  liveVariables,
  parseVarStore,
  parseX509SignatureLists,
  setVariable,
  SHIM_LOCK_GUID,
  EFI_GLOBAL_VARIABLE_GUID,
  VAR_ATTR,
  writeVarsWithMok,
  x509SignatureLists,
  AUTH_VARIABLE_STORE_GUID,
} from '../../../src/vm/uefi-vars.js';
import { tempDir } from '../../helpers/fs.js';

const MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

/** A small store laid out like OVMF's: FV header (72 bytes), store header, records, 0xFF. */
function fakeStore(storeSize = 4096): Buffer {
  const b = Buffer.alloc(72 + storeSize + 64, 0xff);
  b.fill(0, 0, 72);
  b.write('_FVH', 40, 'latin1');
  b.writeUInt16LE(72, 48);
  guidBytes(AUTH_VARIABLE_STORE_GUID).copy(b, 72);
  b.writeUInt32LE(storeSize, 72 + 16);
  b[72 + 20] = 0x5a;
  b[72 + 21] = 0xfe;
  b.fill(0, 72 + 22, 72 + 28);
  return b;
}

function makeCert(dir: string, cn: string): Buffer {
  const r = spawnSync('openssl', ['req', '-new', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${cn}`, '-keyout', join(dir, `${cn}.key`), '-out', join(dir, `${cn}.crt`)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return certificateDer(readFileSync(join(dir, `${cn}.crt`)), `${cn}.crt`);
}

describe('GUIDs', () => {
  test('mixed-endian on disk, round trip', () => {
    const b = guidBytes(SHIM_LOCK_GUID);
    assert.equal(b.toString('hex'), '50ab5d6046e00043abb63dd810dd8b23');
    assert.equal(guidString(b), SHIM_LOCK_GUID);
  });
});

describe('setVariable / parseVarStore', () => {
  test('a variable written parses back with its name, GUID, attributes and data; a second write replaces it', () => {
    let s = parseVarStore(fakeStore());
    assert.equal(s.records.length, 0);
    s = setVariable(s, 'MokList', SHIM_LOCK_GUID, 3, Buffer.from('hello'));
    s = setVariable(s, 'Other', EFI_GLOBAL_VARIABLE_GUID, 7, Buffer.from([1]));
    const v = findVariable(s, 'MokList', SHIM_LOCK_GUID);
    assert.ok(v);
    assert.equal(v.attributes, 3);
    assert.equal(v.data.toString(), 'hello');
    assert.equal(v.offset % 4, 0);
    s = setVariable(s, 'MokList', SHIM_LOCK_GUID, 3, Buffer.from('again'));
    assert.equal(liveVariables(s).filter((x) => x.name === 'MokList').length, 1, 'the old record is marked deleted');
    assert.equal(findVariable(s, 'MokList', SHIM_LOCK_GUID)?.data.toString(), 'again');
    assert.equal(s.records.length, 3);
    assert.equal(findVariable(s, 'Other', EFI_GLOBAL_VARIABLE_GUID)?.data[0], 1);
  });

  test('refuses when the store is full, leaving it as it was', () => {
    const s = parseVarStore(fakeStore(256));
    const before = Buffer.from(s.buf);
    assert.throws(() => setVariable(s, 'MokList', SHIM_LOCK_GUID, 3, Buffer.alloc(400)), (e: unknown) => e instanceof VexfsImageError && /variable store is full: MokList needs \d+ bytes, \d+ are free/.test(e.message));
    assert.ok(s.buf.equals(before));
  });

  test('refuses a time-authenticated variable (it would need a signed payload)', () => {
    const s = parseVarStore(fakeStore());
    assert.throws(() => setVariable(s, 'db', EFI_GLOBAL_VARIABLE_GUID, VAR_ATTR.NON_VOLATILE | VAR_ATTR.TIME_BASED_AUTHENTICATED_WRITE_ACCESS, Buffer.alloc(4)), /time-authenticated/);
  });

  test('rejects what is not an OVMF authenticated variable store (exit 2)', () => {
    assert.throws(() => parseVarStore(Buffer.alloc(4096), 'x.fd'), (e: unknown) => e instanceof UsageError && /x\.fd is not an OVMF variable store.*_FVH/.test(e.message));
    const plain = fakeStore();
    guidBytes('ddcf3616-3275-4164-98b6-fe85707ffe7d').copy(plain, 72); // gEfiVariableGuid: no authenticated variables
    assert.throws(() => parseVarStore(plain), /store signature ddcf3616/);
    const short = fakeStore();
    short.writeUInt32LE(1 << 20, 72 + 16);
    assert.throws(() => parseVarStore(short), /runs past the end/);
  });
});

describe('MokList', () => {
  test('EFI_SIGNATURE_LIST of X.509 certificates parses back to the same DER', () => {
    const dir = tempDir('vexfs-uefi-vars-');
    const a = makeCert(dir, 'a');
    const b = makeCert(dir, 'b');
    const esl = x509SignatureLists([a, b]);
    assert.equal(esl.readUInt32LE(16), 28 + 16 + a.length, 'SignatureListSize');
    assert.equal(guidString(esl.subarray(28, 44)), SHIM_LOCK_GUID, 'owner');
    const back = parseX509SignatureLists(esl);
    assert.equal(back.length, 2);
    assert.ok(back[0]!.equals(a) && back[1]!.equals(b));
  });

  test('a certificate that is not one is bad input', () => {
    assert.throws(() => certificateDer(Buffer.from('not a cert'), 'x.crt'), (e: unknown) => e instanceof UsageError && /x\.crt is not an X\.509 certificate/.test(e.message));
  });

  test('Debian\'s OVMF_VARS_4M.ms.fd: MokList added (NV|BS, no RT), every firmware variable kept, no MokListTrusted', { skip: existsSync(MS_VARS) ? false : `${MS_VARS} is not installed (Debian package ovmf)` }, async () => {
    const dir = tempDir('vexfs-uefi-vars-');
    const cert = makeCert(dir, 'mok');
    const out = join(dir, 'vars.fd');
    await writeVarsWithMok(MS_VARS, out, [cert]);
    const tmpl = parseVarStore(readFileSync(MS_VARS));
    const s = parseVarStore(readFileSync(out));
    assert.equal(readFileSync(out).length, readFileSync(MS_VARS).length);
    const mok = findVariable(s, 'MokList', SHIM_LOCK_GUID);
    assert.ok(mok, 'MokList written');
    assert.equal(mok.attributes, VAR_ATTR.NON_VOLATILE | VAR_ATTR.BOOTSERVICE_ACCESS);
    assert.ok(parseX509SignatureLists(mok.data)[0]!.equals(cert));
    assert.equal(findVariable(s, 'MokListTrusted', SHIM_LOCK_GUID), undefined);
    const names = (x: typeof s): string[] => liveVariables(x).map((v) => `${v.guid}:${v.name}`);
    assert.deepEqual(names(s).slice(0, -1), names(tmpl), 'the firmware\'s variables (PK, KEK, db, dbx, SecureBootEnable, ...) are untouched');
    for (const k of ['PK', 'KEK']) assert.ok(findVariable(s, k, EFI_GLOBAL_VARIABLE_GUID), `${k} is still there`);
    // The template itself is never written.
    assert.equal(findVariable(parseVarStore(readFileSync(MS_VARS)), 'MokList', SHIM_LOCK_GUID), undefined);
  });

  test('no certificates: an unchanged copy (the negative Secure Boot case)', async () => {
    const dir = tempDir('vexfs-uefi-vars-');
    const tmpl = join(dir, 't.fd');
    writeFileSync(tmpl, fakeStore());
    await writeVarsWithMok(tmpl, join(dir, 'o.fd'), []);
    assert.ok(readFileSync(join(dir, 'o.fd')).equals(readFileSync(tmpl)));
  });
});
