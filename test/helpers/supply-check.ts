// Checks a built image's supply-chain files (e2e): present, digests as the manifest says, SPDX
// valid (CycloneDX against its official schema, SPDX by its required fields: helpers/spdx-shape.ts), provenance subjects = the files beside it,
// and the SBOM's package set = the finished image's own /var/lib/dpkg/status read on the host.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { spdxProblems } from './spdx-shape.js';
import { run } from '../../src/tools/exec.js';
import { parseDpkgStatus } from '../../src/supply/dpkg.js';
import { openImage } from '../../src/supply/image-tree.js';
import { tempDir } from './fs.js';

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The packages (name arch version) in the image's dpkg database, read without booting it. */
export async function hostPackages(image: string): Promise<{ list: string[]; ms: number }> {
  const t0 = Date.now();
  const img = await openImage(image, tempDir('vexfs-supply-'));
  try {
    const r = await run('debugfs', ['-R', 'cat /var/lib/dpkg/status', img.device]);
    return { list: parseDpkgStatus(r.stdout).map((p) => `${p.name} ${p.architecture} ${p.version}`).sort(), ms: Date.now() - t0 };
  } finally {
    await img.close();
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function checkSupplyFiles(dir: string, name: string, m: any): Promise<{ packages: number; hostReadMs: number }> {
  assert.ok(m.supply, 'the manifest lists the supply-chain files');
  const read = (f: string): Buffer => readFileSync(join(dir, f));
  for (const f of [m.supply.sbom.spdx, m.supply.sbom.cyclonedx, m.supply.provenance]) assert.equal(sha(read(f.name)), f.sha256, f.name);
  assert.deepEqual([m.supply.sbom.spdx.name, m.supply.sbom.cyclonedx.name, m.supply.provenance.name], [`${name}.spdx.json`, `${name}.cdx.json`, `${name}.intoto.json`]);

  const spdx = JSON.parse(read(m.supply.sbom.spdx.name).toString());
  assert.deepEqual(spdxProblems(spdx), []);
  assert.equal(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(read(m.supply.sbom.cyclonedx.name).toString()), null);

  // The SBOM's packages are the image's: the dpkg database read out of the finished qcow2.
  const host = await hostPackages(join(dir, `${name}.qcow2`));
  type Pkg = { SPDXID: string; name: string; versionInfo?: string; checksums?: Array<{ checksumValue: string }>; externalRefs?: Array<{ referenceLocator: string }> };
  const pkgs = spdx.packages as Pkg[];
  const debs = pkgs.filter((p) => p.SPDXID.startsWith('SPDXRef-deb-'));
  const sbomList = debs.map((p) => `${p.name} ${/[?&]arch=([^&]+)/.exec(p.externalRefs![0]!.referenceLocator)![1]} ${p.versionInfo}`).sort();
  assert.deepEqual(sbomList, host.list);
  assert.equal(m.supply.sbom.packages, host.list.length);
  // The payload's module with the manifest's digest, and the example's crates.
  assert.ok(pkgs.some((p) => p.name === 'vexfs' && p.checksums?.[0]?.checksumValue === m.module.sha256), 'vexfs.ko in the SBOM');
  assert.ok(pkgs.some((p) => p.externalRefs?.[0]?.referenceLocator === 'pkg:cargo/vexctl@0.1.0'), 'vexctl crate in the SBOM');

  // Provenance: every subject is a file beside it with that digest; the image is one of them.
  const st = JSON.parse(read(m.supply.provenance.name).toString());
  assert.equal(st._type, 'https://in-toto.io/Statement/v1');
  assert.equal(st.predicateType, 'https://slsa.dev/provenance/v1');
  const subjects = st.subject as Array<{ name: string; digest: { sha256: string } }>;
  for (const s of subjects) assert.equal(sha(read(s.name)), s.digest.sha256, s.name);
  assert.deepEqual(subjects.map((s) => s.name).sort(), [`${name}.cdx.json`, `${name}.qcow2`, `${name}.qcow2.gz`, `${name}.qcow2.gz.sha256`, `${name}.qcow2.sha256`, `${name}.spdx.json`]);
  const deps = st.predicate.buildDefinition.resolvedDependencies as Array<{ name?: string; digest?: Record<string, string> }>;
  assert.equal(deps.find((d) => d.name === 'base-image')?.digest?.sha256, m.base.sha256);
  if (m.source.commit) assert.equal(deps.find((d) => d.name === 'source')?.digest?.gitCommit, m.source.commit);
  return { packages: host.list.length, hostReadMs: host.ms };
}
