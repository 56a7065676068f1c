// Provenance: an in-toto Statement v1 whose predicate is SLSA Provenance v1
// (https://slsa.dev/spec/v1.0/provenance). Unsigned: it records what was built from what; a
// signature (an in-toto/DSSE envelope) would wrap this statement unchanged.
import type { DebPackage } from './dpkg.js';

export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** What this kind of build is (docs/supply-chain.md describes it and its parameters). */
export const BUILD_TYPE = 'urn:vexfs-image:build-type:vm-image:v1';
/** The builder: vexfs-image run on the build host (no hosted build service vouches for it). */
export const BUILDER_ID = 'urn:vexfs-image:builder:local-host';
export const PROVENANCE_SUFFIX = '.intoto.json';

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface ProvenanceInput {
  /** Every output file: name (as published) and sha256. */
  subjects: ReadonlyArray<{ name: string; sha256: string }>;
  toolVersion: string;
  hostTools: Readonly<Record<string, string>>;
  accelerator?: string;
  /** The command line as run, e.g. ['vexfs-image', 'build', '--variant', 'minimal']. */
  command: readonly string[];
  variant: string;
  version: string;
  baseSpec: string;
  base: { source: string; sha256: string };
  source: { path: string; commit?: string; tree?: string; dirty?: boolean };
  /** sha256 of the resolved build configuration (variant, payload, packages). */
  configSha256: string;
  /** sha256 of vexfs-image.yaml at the source root, when there is one. */
  configFileSha256?: string;
  sourceDateEpoch?: number;
  packages: readonly DebPackage[];
  /** sha256 of the image's /var/lib/dpkg/status: the package set as one digest. */
  packageDbSha256?: string;
  purl: (p: DebPackage) => string;
  startedOn: Date;
  finishedOn: Date;
  invocationId: string;
}

export function provenanceStatement(p: ProvenanceInput): Record<string, unknown> {
  const deps: ResourceDescriptor[] = [];
  deps.push({
    name: 'source',
    uri: `file://${p.source.path}`,
    ...(p.source.commit ? { digest: { gitCommit: p.source.commit, ...(p.source.tree ? { gitTree: p.source.tree } : {}) } } : {}),
    ...(p.source.dirty !== undefined ? { annotations: { dirty: p.source.dirty } } : {}),
  });
  deps.push({ name: 'base-image', uri: p.base.source || p.baseSpec, digest: { sha256: p.base.sha256 } });
  if (p.packageDbSha256) deps.push({ name: 'package-set', uri: 'file:///var/lib/dpkg/status', digest: { sha256: p.packageDbSha256 }, annotations: { packages: p.packages.length } });
  for (const pkg of p.packages) deps.push({ uri: p.purl(pkg), annotations: { source: `${pkg.source} ${pkg.sourceVersion}` } });
  return {
    _type: STATEMENT_TYPE,
    subject: [...p.subjects].sort((a, b) => (a.name < b.name ? -1 : 1)).map((s) => ({ name: s.name, digest: { sha256: s.sha256 } })),
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: {
          command: [...p.command],
          variant: p.variant,
          version: p.version,
          base: p.baseSpec,
          config: { sha256: p.configSha256, ...(p.configFileSha256 ? { file: 'vexfs-image.yaml', fileSha256: p.configFileSha256 } : {}) },
        },
        internalParameters: {
          ...(p.accelerator ? { accelerator: p.accelerator } : {}),
          ...(p.sourceDateEpoch !== undefined ? { SOURCE_DATE_EPOCH: p.sourceDateEpoch } : {}),
        },
        resolvedDependencies: deps,
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { 'vexfs-image': p.toolVersion, ...p.hostTools } },
        metadata: { invocationId: p.invocationId, startedOn: p.startedOn.toISOString(), finishedOn: p.finishedOn.toISOString() },
      },
    },
  };
}
