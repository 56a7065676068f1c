// SBOM: parsed from real data (this host's own dpkg database and DEP-5 copyright files — a
// Debian machine, like every build host — and the example's Cargo.lock), serialised, and
// validated against the official schemas: SPDX 2.3 (test/fixtures/schemas) and CycloneDX 1.6
// (the one the CycloneDX library ships, through its own validator).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { spdxProblems } from '../../helpers/spdx-shape.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { dep5Licences, parseDpkgStatus, spdxExpression, spdxId } from '../../../src/supply/dpkg.js';
import { LICENCES_COMMAND, parseLicenceListing } from '../../../src/supply/inventory.js';
import { spawnSync } from 'node:child_process';
import { parseCargoLock, sourceCrates } from '../../../src/supply/cargo.js';
import { debPurl, spdxDocument, spdxJson, type SbomInput } from '../../../src/supply/sbom.js';
import { cyclonedxJson } from '../../../src/supply/cyclonedx.js';

const HOST_STATUS = readFileSync('/var/lib/dpkg/status', 'utf8');

/** The host's DEP-5 licences, as the build VM's licence listing would report them. */
let licenceCache: Record<string, string[]> | undefined;
function hostLicences(): Record<string, string[]> {
  if (licenceCache) return licenceCache;
  const out: Record<string, string[]> = (licenceCache = {});
  for (const name of readdirSync('/usr/share/doc')) {
    const f = join('/usr/share/doc', name, 'copyright');
    if (!existsSync(f)) continue;
    const names = dep5Licences(readFileSync(f, 'utf8'));
    if (names.length) out[name] = names;
  }
  return out;
}

function input(over: Partial<SbomInput> = {}): SbomInput {
  return {
    imageName: 'vexfs-minimal-1.0.0',
    variant: 'minimal',
    version: '1.0.0',
    toolVersion: '0.1.0',
    created: new Date('2026-11-30T12:00:00.123Z'),
    image: { name: 'vexfs-minimal-1.0.0.qcow2', sha256: 'a'.repeat(64) },
    distro: 'debian',
    kernel: '6.12.57+deb13-cloud-amd64',
    packages: parseDpkgStatus(HOST_STATUS),
    licences: hostLicences(),
    artifacts: [
      { kind: 'module', name: 'vexfs', path: '/usr/lib/modules/6.12.57+deb13-cloud-amd64/updates/vexfs.ko', size: 12345, sha256: 'b'.repeat(64), vermagic: '6.12.57+deb13-cloud-amd64 SMP preempt mod_unload modversions' },
      { kind: 'tool', name: 'vexctl', path: '/usr/local/bin/vexctl', size: 999, sha256: 'c'.repeat(64) },
      { kind: 'file', name: 'vexfs.conf', path: '/etc/vexfs/vexfs.conf', size: 10, sha256: 'd'.repeat(64) },
      // The same file name at another path (as VexFS's payload has): its own SPDX id.
      { kind: 'file', name: 'vexfs.conf', path: '/etc/modules-load.d/vexfs.conf', size: 6, sha256: 'e'.repeat(64) },
    ],
    crates: sourceCrates(join(PACKAGE_ROOT, 'examples/vexfs')),
    ...over,
  };
}

test('dpkg status: the host database parses into installed packages with source packages', () => {
  const pkgs = parseDpkgStatus(HOST_STATUS);
  const stanzas = HOST_STATUS.split(/\n\n+/).filter((s) => /^Package: /m.test(s));
  assert.ok(pkgs.length > 100, `${pkgs.length} packages`);
  assert.ok(pkgs.length <= stanzas.length);
  const dpkg = pkgs.find((p) => p.name === 'dpkg');
  assert.ok(dpkg && /^\d/.test(dpkg.version) && dpkg.architecture === 'amd64', JSON.stringify(dpkg));
  // A binary built from a differently named source: libc6 from glibc.
  const libc = pkgs.find((p) => p.name === 'libc6');
  assert.equal(libc?.source, 'glibc');
  assert.deepEqual(pkgs.map((p) => p.name), [...pkgs.map((p) => p.name)].sort());
});

test('dpkg status: removed packages are left out; "Source: x (v)" gives the source version', () => {
  const text = [
    'Package: gone\nStatus: deinstall ok config-files\nVersion: 1\nArchitecture: amd64\n',
    'Package: libfoo1\nStatus: install ok installed\nArchitecture: amd64\nSource: foo (2.0-1)\nVersion: 2.0-1+b1\nDescription: x\n multi\n .\n line\n',
    'Package: bar\nStatus: install ok unpacked\nVersion: 1:3.4\nArchitecture: all\n',
  ].join('\n');
  assert.deepEqual(
    parseDpkgStatus(text).map((p) => [p.name, p.version, p.source, p.sourceVersion]),
    [['bar', '1:3.4', 'bar', '1:3.4'], ['libfoo1', '2.0-1+b1', 'foo', '2.0-1']],
  );
  assert.throws(() => parseDpkgStatus('Package: x\nnot a field\n'), /not a deb822 field line/);
});

test('licences: DEP-5 short names become SPDX ids, unknown ones give no expression (NOASSERTION)', () => {
  assert.equal(spdxId('GPL-2+'), 'GPL-2.0-or-later');
  assert.equal(spdxId('GPL-2'), 'GPL-2.0-only');
  assert.equal(spdxId('LGPL-2.1+'), 'LGPL-2.1-or-later');
  assert.equal(spdxId('Expat'), 'MIT');
  assert.equal(spdxId('BSD-3-clause'), 'BSD-3-Clause');
  assert.equal(spdxId('Artistic'), 'Artistic-1.0');
  assert.equal(spdxId('public-domain'), undefined);
  assert.equal(spdxExpression(['GPL-2+', 'Expat', 'GPL-2+ or Artistic']), '(Artistic-1.0 OR GPL-2.0-or-later) AND GPL-2.0-or-later AND MIT');
  assert.equal(spdxExpression(['Zlib']), 'Zlib');
  assert.equal(spdxExpression(['GPL-2+', 'permissive']), undefined);
  assert.equal(spdxExpression(['GPL-3+ with Autoconf-exception']), undefined);
  assert.equal(spdxExpression([]), undefined);
  assert.deepEqual(dep5Licences('Upstream-Name: x\n\nLicense: GPL-2\n'), [], 'not DEP-5: no Format: line');
  assert.deepEqual(parseLicenceListing('=== /usr/share/doc/a/copyright\nLicense: GPL-2+\nLicense: GPL-2+\nLicense: MIT\n=== /usr/share/doc/b/copyright\n=== /usr/share/doc/c/copyright\nLicense: Zlib\n'), { a: ['GPL-2+', 'MIT'], c: ['Zlib'] });
  // The listing command itself, run over this host's copyright files.
  const listed = parseLicenceListing(spawnSync('sh', ['-c', LICENCES_COMMAND], { encoding: 'utf8' }).stdout);
  assert.deepEqual(listed, hostLicences());
  // Real data: most of this host's packages with DEP-5 files map to an expression.
  const lic = hostLicences();
  const mapped = Object.values(lic).filter((n) => spdxExpression(n)).length;
  assert.ok(mapped > Object.keys(lic).length / 3, `${mapped} of ${Object.keys(lic).length} mapped`);
});

test('Cargo.lock: the example crates, and registry crates with their checksum', () => {
  const crates = sourceCrates(join(PACKAGE_ROOT, 'examples/vexfs'));
  assert.ok(crates.some((c) => c.name === 'vexctl' && c.lockfile === 'Cargo.lock' && !c.source), JSON.stringify(crates));
  const reg = parseCargoLock('version = 3\n[[package]]\nname = "libc"\nversion = "0.2.150"\nsource = "registry+https://github.com/rust-lang/crates.io-index"\nchecksum = "' + 'e'.repeat(64) + '"\n');
  assert.deepEqual(reg, [{ name: 'libc', version: '0.2.150', source: 'registry+https://github.com/rust-lang/crates.io-index', checksum: 'e'.repeat(64), lockfile: 'Cargo.lock' }]);
  assert.throws(() => parseCargoLock('[[package]]\nversion = "1"\n'), /without name or version/);
});

test('SPDX 2.3: every required field (helpers/spdx-shape.ts), with every package, artifact and crate', () => {
  const inp = input();
  const doc = JSON.parse(spdxJson(inp));
  assert.deepEqual(spdxProblems(doc), []);
  assert.equal(doc.spdxVersion, 'SPDX-2.3');
  assert.equal(doc.creationInfo.created, '2026-11-30T12:00:00Z');
  const pkgs = doc.packages as Array<Record<string, unknown>>;
  assert.equal(pkgs.length, 1 + inp.packages.length + inp.artifacts.length + inp.crates.length);
  const ids = pkgs.map((p) => p.SPDXID);
  assert.equal(new Set(ids).size, ids.length, 'SPDX ids are unique');
  const rel = doc.relationships as Array<Record<string, string>>;
  assert.equal(rel.filter((r) => r.relationshipType === 'CONTAINS').length, pkgs.length - 1);
  const libc = pkgs.find((p) => p.name === 'libc6')!;
  assert.match(String((libc.externalRefs as Array<{ referenceLocator: string }>)[0]!.referenceLocator), /^pkg:deb\/debian\/libc6@.+\?arch=amd64$/);
  assert.match(String(libc.sourceInfo), /^built package from: glibc /);
  const mod = pkgs.find((p) => p.name === 'vexfs')!;
  assert.deepEqual(mod.checksums, [{ algorithm: 'SHA256', checksumValue: 'b'.repeat(64) }]);
  assert.ok(pkgs.some((p) => p.licenseDeclared !== 'NOASSERTION'), 'some licence is known');
  // The same image gives the same document (its namespace comes from the image digest).
  assert.deepEqual(spdxDocument(inp), spdxDocument(input()));
  assert.notEqual(spdxDocument(input({ image: { name: 'x.qcow2', sha256: 'f'.repeat(64) } })).documentNamespace, doc.documentNamespace);
  // The schema does reject a broken document (this test can fail).
  assert.deepEqual(spdxProblems({ ...doc, creationInfo: { created: 'yesterday', creators: [] } }), ['creationInfo.created is YYYY-MM-DDThh:mm:ssZ', 'creationInfo.creators: Tool:/Organization:/Person: entries']);
});

test('CycloneDX 1.6: valid against the library\'s bundled official schema (strict)', async () => {
  const inp = input();
  const json = cyclonedxJson(inp);
  const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
  assert.equal(await validator.validate(json), null);
  const bom = JSON.parse(json);
  assert.equal(bom.bomFormat, 'CycloneDX');
  assert.equal(bom.specVersion, '1.6');
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f-]{36}$/);
  assert.equal(bom.metadata.component.type, 'operating-system');
  assert.equal(bom.metadata.timestamp, '2026-11-30T12:00:00.123Z');
  const comps = bom.components as Array<Record<string, unknown>>;
  assert.equal(comps.length, inp.packages.length + inp.artifacts.length + inp.crates.length);
  const libc = inp.packages.find((p) => p.name === 'libc6')!;
  assert.ok(comps.some((c) => c.purl === debPurl(libc, 'debian')));
  const mod = comps.find((c) => c.type === 'device-driver')!;
  assert.deepEqual(mod.hashes, [{ alg: 'SHA-256', content: 'b'.repeat(64) }]);
  assert.ok(comps.some((c) => c.purl === 'pkg:cargo/vexctl@0.1.0'));
  assert.ok(comps.some((c) => Array.isArray(c.licenses) && c.licenses.length > 0));
  // The validator rejects a broken BOM (this test can fail).
  assert.notEqual(await validator.validate(JSON.stringify({ ...bom, specVersion: '1.6', components: [{ type: 'nonsense', name: 'x' }] })), null);
});
