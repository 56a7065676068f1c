// Supply-chain files written by finalise beside the image, in its partial directory (so they are
// published atomically with it): the SBOM (SPDX 2.3 and CycloneDX 1.6 JSON) and the provenance
// (in-toto Statement v1, SLSA Provenance v1). The manifest lists them (ctx.supply.record).
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_VERSION } from '../paths.js';
import { sha256File, sha256Of } from '../tools/hash.js';
import { CONFIG_FILE_NAME } from '../config/load.js';
import type { BuildContext } from '../builder/context.js';
import { sourceCrates } from './cargo.js';
import { parseDpkgStatus } from './dpkg.js';
import { provenanceStatement, PROVENANCE_SUFFIX } from './provenance.js';
import { debPurl, SBOM_SUFFIX, spdxJson, type SbomInput } from './sbom.js';
import { sourceDateEpoch, sourceFacts } from './source.js';
import { CERTIFICATE_SUFFIX } from './signing.js';

export interface SupplyFile {
  name: string;
  sha256: string;
}

/** What the manifest says about the supply-chain files. */
export interface SupplyRecord {
  sbom: { spdx: SupplyFile; cyclonedx: SupplyFile; packages: number; crates: number; artifacts: number };
  provenance: SupplyFile;
  /** Module signing (builder/sign.ts): the published certificate, the signer, each signed module. */
  signing?: { certificate: SupplyFile; signer: string; generated: boolean; modules: Array<{ name: string; path: string; sha256: string; key_id: string }> };
  source_date_epoch: number | null;
  ms: number;
}

export interface FinaliseOutputs {
  /** The files already in the partial directory: the provenance's subjects (sha256 computed here when not given). */
  files: ReadonlyArray<{ name: string; sha256?: string }>;
  /** The image itself (what the SBOM describes). */
  image: { name: string; sha256: string };
}

const sha256 = sha256Of;

/** The build configuration as resolved (variant, payload, package sets): one digest for provenance. */
export function configDigest(plan: BuildContext['plan']): string {
  const { variantName, variant, version, base, diskSizeBytes, payload, basePackages, preinstall, toolchainPackages, buildCommand, signing } = plan;
  return sha256(JSON.stringify({ variantName, variant, version, base, diskSizeBytes, payload, basePackages, preinstall, toolchainPackages, buildCommand, ...(signing ? { signing } : {}) }));
}

/** The distribution of a base spec, for package URLs (pkg:deb/debian/..., pkg:deb/ubuntu/...). */
export function distroOf(baseSpec: string): string {
  return /^ubuntu/i.test(baseSpec) ? 'ubuntu' : 'debian';
}

/** Writes the SBOMs and the provenance into dir; returns the record the manifest carries. */
export async function writeSupplyFiles(ctx: BuildContext, dir: string, out: FinaliseOutputs): Promise<SupplyRecord> {
  const t0 = Date.now();
  const status = ctx.supply?.dpkgStatus;
  if (!status) throw new Error('finalise: no package database was read from the build VM (sbom-packages step)');
  const packages = parseDpkgStatus(status);
  const facts = await sourceFacts(ctx.plan.sourceDir);
  const epoch = sourceDateEpoch(process.env, facts);
  const distro = distroOf(ctx.plan.base);
  const input: SbomInput = {
    imageName: ctx.imageName,
    variant: ctx.plan.variantName,
    architecture: ctx.plan.arch,
    version: ctx.plan.version,
    toolVersion: PACKAGE_VERSION,
    created: epoch !== undefined ? new Date(epoch * 1000) : ctx.startedAt,
    image: out.image,
    distro,
    ...(ctx.guest.kernel ? { kernel: ctx.guest.kernel } : {}),
    packages,
    licences: ctx.supply?.licences ?? {},
    artifacts: ctx.guest.artifacts ?? [],
    crates: sourceCrates(ctx.plan.sourceDir),
  };
  const spdx = { name: `${ctx.imageName}${SBOM_SUFFIX.spdx}`, text: spdxJson(input) };
  const { cyclonedxJson } = await import('./cyclonedx.js');
  const cdx = { name: `${ctx.imageName}${SBOM_SUFFIX.cyclonedx}`, text: cyclonedxJson(input) };
  const spdxFile = { name: spdx.name, sha256: sha256(spdx.text) };
  const cdxFile = { name: cdx.name, sha256: sha256(cdx.text) };
  await writeFile(join(dir, spdx.name), spdx.text);
  await writeFile(join(dir, cdx.name), cdx.text);
  // The signing certificate (public) beside the image: what a kernel or MOK list must trust.
  const cert = ctx.signing ? { name: `${ctx.imageName}${CERTIFICATE_SUFFIX}`, text: ctx.signing.certificatePem } : undefined;
  const certFile = cert ? { name: cert.name, sha256: sha256(cert.text) } : undefined;
  if (cert) await writeFile(join(dir, cert.name), cert.text);

  const configFile = join(ctx.plan.sourceDir, CONFIG_FILE_NAME);
  const subjects: SupplyFile[] = [];
  for (const f of out.files) subjects.push({ name: f.name, sha256: f.sha256 ?? (await sha256File(join(dir, f.name))) });
  const statement = provenanceStatement({
    subjects: [...subjects, spdxFile, cdxFile, ...(certFile ? [certFile] : [])],
    toolVersion: PACKAGE_VERSION,
    hostTools: ctx.toolVersions,
    ...(ctx.session.opts.profile.accel ? { accelerator: ctx.session.opts.profile.accel } : {}),
    command: ['vexfs-image', ...process.argv.slice(2)],
    variant: ctx.plan.variantName,
    version: ctx.plan.version,
    baseSpec: ctx.plan.base,
    base: { source: ctx.base?.source ?? '', sha256: (ctx.base?.digest ?? '').replace(/^sha256:/, '') },
    source: { path: ctx.plan.sourceDir, ...(ctx.sourceCommit ? { commit: ctx.sourceCommit } : {}), ...(facts.tree ? { tree: facts.tree } : {}), ...(facts.dirty !== undefined ? { dirty: facts.dirty } : {}) },
    configSha256: configDigest(ctx.plan),
    ...(existsSync(configFile) ? { configFileSha256: sha256(readFileSync(configFile)) } : {}),
    ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
    packages,
    packageDbSha256: sha256(status),
    purl: (p) => debPurl(p, distro),
    startedOn: ctx.startedAt,
    finishedOn: new Date(),
    invocationId: `${ctx.imageName}@${ctx.startedAt.toISOString()}#${process.pid}`,
  });
  const provText = `${JSON.stringify(statement, null, 2)}\n`;
  const provName = `${ctx.imageName}${PROVENANCE_SUFFIX}`;
  await writeFile(join(dir, provName), provText);

  const record: SupplyRecord = {
    sbom: { spdx: spdxFile, cyclonedx: cdxFile, packages: packages.length, crates: input.crates.length, artifacts: input.artifacts.length },
    provenance: { name: provName, sha256: sha256(provText) },
    ...(ctx.signing && certFile
      ? { signing: { certificate: certFile, signer: ctx.signing.signer, generated: ctx.signing.generated, modules: ctx.signing.modules.map((m) => ({ name: m.name, path: m.path, sha256: m.sha256, key_id: m.keyId })) } }
      : {}),
    source_date_epoch: epoch ?? null,
    ms: Date.now() - t0,
  };
  ctx.supply = { ...ctx.supply, record };
  return record;
}

/** The supply-chain file names finalise publishes (none before writeSupplyFiles ran). */
export function supplyFileNames(ctx: BuildContext): string[] {
  const r = ctx.supply?.record;
  return r ? [r.sbom.spdx.name, r.sbom.cyclonedx.name, r.provenance.name, ...(r.signing ? [r.signing.certificate.name] : [])] : [];
}
