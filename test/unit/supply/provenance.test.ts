// Provenance and the supply-chain files finalise writes: writeSupplyFiles on a build context
// made of real data (this host's dpkg database, the example source tree, its git facts), then
// the statement's shape checked field by field against in-toto Statement v1 and SLSA
// Provenance v1 (neither publishes a JSON schema: the spec's required fields are asserted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';
import type { BuildContext } from '../../../src/builder/context.js';
import { configDigest, supplyFileNames, writeSupplyFiles } from '../../../src/supply/index.js';
import { BUILD_TYPE, SLSA_PROVENANCE_V1, STATEMENT_TYPE } from '../../../src/supply/provenance.js';
import { envSourceDateEpoch, sourceFacts } from '../../../src/supply/source.js';
import { gitHead } from '../../../src/tools/git.js';
import { UsageError } from '../../../src/errors.js';

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

async function fakeContext(): Promise<BuildContext> {
  const sourceDir = join(PACKAGE_ROOT, 'examples/vexfs');
  return {
    plan: { sourceDir, variantName: 'minimal', variant: { keep_toolchain: false }, version: '1.0.0', base: 'debian-13', diskSizeBytes: 1, payload: {}, basePackages: ['make'], preinstall: [], toolchainPackages: ['make'], buildCommand: 'make vm-build' },
    imageName: 'vexfs-minimal-1.0.0',
    startedAt: new Date('2026-12-01T10:00:00Z'),
    guest: { kernel: '6.12.57+deb13-cloud-amd64', artifacts: [{ kind: 'module', name: 'vexfs', path: '/usr/lib/modules/k/updates/vexfs.ko', size: 3, sha256: 'b'.repeat(64) }] },
    session: { opts: { profile: { accel: 'tcg' } } },
    toolVersions: { 'qemu-system-x86_64': '10.0.2' },
    base: { path: '/cache/base.qcow2', format: 'qcow2', digest: `sha256:${'9'.repeat(64)}`, source: 'built from Debian packages' },
    sourceCommit: await gitHead(sourceDir),
    supply: { dpkgStatus: readFileSync('/var/lib/dpkg/status', 'utf8'), licences: {} },
  } as unknown as BuildContext;
}

test('writeSupplyFiles: SBOMs and an in-toto/SLSA v1 statement covering every output file', async () => {
  const dir = tempDir();
  const files: Record<string, string> = { 'vexfs-minimal-1.0.0.qcow2': 'image', 'vexfs-minimal-1.0.0.qcow2.gz': 'gz', 'vexfs-minimal-1.0.0.qcow2.sha256': 'line\n' };
  for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c);
  const ctx = await fakeContext();
  const t0 = Date.now();
  const rec = await writeSupplyFiles(ctx, dir, {
    image: { name: 'vexfs-minimal-1.0.0.qcow2', sha256: sha('image') },
    files: [{ name: 'vexfs-minimal-1.0.0.qcow2', sha256: sha('image') }, { name: 'vexfs-minimal-1.0.0.qcow2.gz', sha256: sha('gz') }, { name: 'vexfs-minimal-1.0.0.qcow2.sha256' }],
  });
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.deepEqual(supplyFileNames(ctx), ['vexfs-minimal-1.0.0.spdx.json', 'vexfs-minimal-1.0.0.cdx.json', 'vexfs-minimal-1.0.0.intoto.json']);
  for (const f of [rec.sbom.spdx, rec.sbom.cyclonedx, rec.provenance]) assert.equal(sha(readFileSync(join(dir, f.name))), f.sha256, f.name);
  assert.ok(rec.sbom.packages > 100 && rec.sbom.artifacts === 1 && rec.sbom.crates >= 1, JSON.stringify(rec.sbom));

  const st = JSON.parse(readFileSync(join(dir, rec.provenance.name), 'utf8'));
  // in-toto Statement v1: _type, subject[] (name + digest of lowercase hex), predicateType, predicate.
  assert.equal(st._type, STATEMENT_TYPE);
  assert.equal(st.predicateType, SLSA_PROVENANCE_V1);
  const subjects = new Map((st.subject as Array<{ name: string; digest: Record<string, string> }>).map((s) => [s.name, s.digest.sha256]));
  assert.deepEqual([...subjects.keys()].sort(), [...Object.keys(files), rec.sbom.spdx.name, rec.sbom.cyclonedx.name].sort());
  for (const [n, c] of Object.entries(files)) assert.equal(subjects.get(n), sha(c), n);
  for (const s of st.subject) for (const [alg, hex] of Object.entries(s.digest)) assert.ok(alg === 'sha256' && /^[0-9a-f]{64}$/.test(String(hex)));
  // SLSA v1: buildDefinition.{buildType, externalParameters} and runDetails.builder.id are required.
  const { buildDefinition: bd, runDetails: rd } = st.predicate;
  assert.equal(bd.buildType, BUILD_TYPE);
  assert.equal(typeof bd.externalParameters, 'object');
  assert.deepEqual(bd.externalParameters.command.slice(0, 1), ['vexfs-image']);
  assert.equal(bd.externalParameters.variant, 'minimal');
  assert.equal(bd.externalParameters.config.sha256, configDigest(ctx.plan));
  assert.match(rd.builder.id, /^[a-z][a-z0-9+.-]*:/, 'builder.id is a URI');
  assert.equal(rd.builder.version['vexfs-image'], '0.1.0');
  assert.match(rd.metadata.startedOn, RFC3339);
  assert.match(rd.metadata.finishedOn, RFC3339);
  // Each ResourceDescriptor has at least one of uri, digest, content.
  for (const d of bd.resolvedDependencies) assert.ok(d.uri || d.digest || d.content, JSON.stringify(d));
  const byName = new Map((bd.resolvedDependencies as Array<{ name?: string; digest?: Record<string, string> }>).filter((d) => d.name).map((d) => [d.name, d]));
  assert.equal(byName.get('base-image')?.digest?.sha256, '9'.repeat(64));
  assert.equal(byName.get('package-set')?.digest?.sha256, sha(readFileSync('/var/lib/dpkg/status')));
  const src = byName.get('source')!;
  const facts = await sourceFacts(ctx.plan.sourceDir);
  assert.equal(src.digest?.gitCommit, ctx.sourceCommit);
  assert.equal(src.digest?.gitTree, facts.tree);
  assert.match(String(facts.tree), /^[0-9a-f]{40}$/);
  assert.ok(bd.resolvedDependencies.filter((d: { uri?: string }) => d.uri?.startsWith('pkg:deb/debian/')).length === rec.sbom.packages);
  // SOURCE_DATE_EPOCH comes from the source commit unless set: the SBOM's creation time.
  assert.equal(rec.source_date_epoch, facts.commitEpoch);
  const spdx = JSON.parse(readFileSync(join(dir, rec.sbom.spdx.name), 'utf8'));
  assert.equal(spdx.creationInfo.created, new Date(facts.commitEpoch! * 1000).toISOString().replace(/\.000Z$/, 'Z'));
});

test('writeSupplyFiles without the package database read from the VM fails, naming the step', async () => {
  const ctx = await fakeContext();
  ctx.supply = {};
  await assert.rejects(writeSupplyFiles(ctx, tempDir(), { image: { name: 'x', sha256: 'a'.repeat(64) }, files: [] }), /sbom-packages/);
});

test('SOURCE_DATE_EPOCH: a whole number, else bad input', () => {
  assert.equal(envSourceDateEpoch({}), undefined);
  assert.equal(envSourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' }), 1700000000);
  assert.throws(() => envSourceDateEpoch({ SOURCE_DATE_EPOCH: 'yesterday' }), (e: Error) => e instanceof UsageError && /SOURCE_DATE_EPOCH must be a whole number/.test(e.message));
});
