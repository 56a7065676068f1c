// The image manifest: JSON (machine-readable, stable keys) and the spec's human-readable text.
import { PACKAGE_VERSION } from '../paths.js';
import type { BuildContext, InstalledArtifact } from './context.js';
import { inputsRecord, type InputsRecord } from './inputs.js';
import type { SupplyRecord } from '../supply/index.js';
import type { Arch } from '../arch.js';

export interface ImageManifest {
  schema: 'vexfs-image/manifest@1';
  name: string;
  variant: string;
  version: string;
  /** Debian architecture of the image (amd64, arm64). */
  architecture: Arch;
  build_date: string;
  tool: { name: 'vexfs-image'; version: string; host_tools: Record<string, string> };
  accelerator: string | undefined;
  /** preinstalled_packages: built into the base on the host (mmdebstrap), not installed by apt in the VM. */
  base: { spec: string; path: string; source: string; sha256: string; preinstalled_packages: string[] };
  source: { path: string; commit: string | null; transport: string | null };
  kernel: string | null;
  module: { vermagic: string | null; sha256: string | null; version: string | null };
  vexctl: { sha256: string | null };
  /** Every module, tool and file the payload installed: path in the image, size, sha256 (and vermagic for modules). */
  artifacts: InstalledArtifact[];
  installed_packages: number | null;
  files: {
    image: { name: string; size: number; sha256: string; virtual_size: number };
    compressed: { name: string; size: number; sha256: string };
    /** Cloud formats (--format), each checksummed and checked. */
    formats?: Array<{ format: string; name: string; size: number; sha256: string; virtual_size: number; checked: string; ms: number }>;
  };
  /** The SBOMs and the provenance published beside the image (null: none written). */
  supply: SupplyRecord | null;
  stage_times_ms: Record<string, number>;
  ssh_ready_ms: number | null;
  cloud_init_ms: number | null;
  clean_shutdown: boolean | null;
  /** The inputs digest (builder/inputs.ts): a later build with the same one is a no-op. */
  inputs: InputsRecord | null;
  /** Present when the build was incremental: the image it started from (builder/incremental/). */
  incremental?: { from_image_sha256: string };
  /** How the build VM started: resumed from a snapshot of the booted base (builder/warm-start.ts), or booted; absent for incremental builds. */
  build_vm?: { start: 'resumed' | 'booted'; snapshot_key?: string };
}

export interface ManifestFiles {
  image: { name: string; size: number; sha256: string; virtualSize: number };
  compressed: { name: string; size: number; sha256: string };
  formats?: Array<{ format: string; name: string; size: number; sha256: string; virtualSize: number; checked: string; ms: number }>;
}

export function buildManifest(ctx: BuildContext, files: ManifestFiles, stageTimes: Record<string, number>): ImageManifest {
  const g = ctx.guest;
  return {
    schema: 'vexfs-image/manifest@1',
    name: ctx.imageName,
    variant: ctx.plan.variantName,
    version: ctx.plan.version,
    architecture: ctx.plan.arch,
    build_date: ctx.startedAt.toISOString(),
    tool: { name: 'vexfs-image', version: PACKAGE_VERSION, host_tools: ctx.toolVersions },
    accelerator: ctx.session.opts.profile.accel,
    base: { spec: ctx.plan.base, path: ctx.base?.path ?? '', source: ctx.base?.source ?? '', sha256: (ctx.base?.digest ?? '').replace(/^sha256:/, ''), preinstalled_packages: [...ctx.plan.preinstall] },
    source: { path: ctx.plan.sourceDir, commit: ctx.sourceCommit ?? null, transport: g.sourceTransport ?? null },
    kernel: g.kernel ?? null,
    module: { vermagic: g.vermagic ?? null, sha256: g.moduleSha256 ?? null, version: g.moduleVersion ?? null },
    vexctl: { sha256: g.vexctlSha256 ?? null },
    artifacts: g.artifacts ?? [],
    installed_packages: g.packageCount ?? null,
    files: {
      image: { name: files.image.name, size: files.image.size, sha256: files.image.sha256, virtual_size: files.image.virtualSize },
      compressed: files.compressed,
      ...(files.formats?.length ? { formats: files.formats.map((f) => ({ format: f.format, name: f.name, size: f.size, sha256: f.sha256, virtual_size: f.virtualSize, checked: f.checked, ms: f.ms })) } : {}),
    },
    supply: ctx.supply?.record ?? null,
    stage_times_ms: stageTimes,
    ssh_ready_ms: ctx.session.sshReadyMs ?? null,
    cloud_init_ms: ctx.session.cloudInitDoneMs !== undefined && ctx.session.sshReadyMs !== undefined ? ctx.session.cloudInitDoneMs - ctx.session.sshReadyMs : null,
    clean_shutdown: ctx.session.cleanShutdown ?? null,
    inputs: ctx.inputParts && ctx.base ? inputsRecord(ctx.inputParts, ctx.base.digest.replace(/^sha256:/, '')) : null,
    ...(ctx.incrementalFrom ? { incremental: { from_image_sha256: ctx.incrementalFrom.imageSha256 } } : {}),
    ...(ctx.incrementalFrom ? {} : { build_vm: ctx.warm?.mode === 'restore' ? { start: 'resumed' as const, snapshot_key: ctx.warm.key } : { start: 'booted' as const } }),
  };
}

/** The spec's `.manifest`: a short human-readable summary. */
export function manifestText(m: ImageManifest): string {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const lines = [
    `VexFS image manifest`,
    `====================`,
    `Image:            ${m.files.image.name}`,
    `Variant:          ${m.variant}`,
    `VexFS version:    ${m.version}`,
    `Architecture:     ${m.architecture}`,
    `Build date:       ${m.build_date}`,
    `Base image:       ${m.base.spec} (sha256 ${m.base.sha256})`,
    `Preinstalled:     ${m.base.preinstalled_packages.length ? m.base.preinstalled_packages.join(' ') : 'none (apt in the build VM)'}`,
    `Kernel:           ${m.kernel ?? 'unknown'}`,
    `Module vermagic:  ${m.module.vermagic ?? 'unknown'}`,
    `vexfs.ko sha256:  ${m.module.sha256 ?? 'unknown'}`,
    `vexctl sha256:    ${m.vexctl.sha256 ?? 'unknown'}`,
    `Packages:         ${m.installed_packages ?? 'unknown'}`,
    `Installed:`,
    ...(m.artifacts.length ? m.artifacts.map((a) => `  ${a.kind.padEnd(7)} ${a.path} (${a.size} bytes, sha256 ${a.sha256}${a.vermagic ? `, vermagic ${a.vermagic}` : ''})`) : ['  unknown']),
    `Image size:       ${mib(m.files.image.size)} (virtual ${mib(m.files.image.virtual_size)})`,
    `Compressed size:  ${mib(m.files.compressed.size)}`,
    `Image sha256:     ${m.files.image.sha256}`,
    ...(m.files.formats ?? []).map((f) => `${`Format ${f.format}:`.padEnd(18)}${f.name} (${mib(f.size)}, virtual ${mib(f.virtual_size)}, sha256 ${f.sha256})`),
    `Source commit:    ${m.source.commit ?? 'not a git tree'}`,
    `Inputs digest:    ${m.inputs ? `sha256:${m.inputs.digest}` : 'not recorded'}`,
    ...(m.incremental ? [`Built from:       image sha256 ${m.incremental.from_image_sha256} (incremental: the payload rebuilt and reinstalled)`] : []),
    `SBOM:             ${m.supply ? `${m.supply.sbom.spdx.name}, ${m.supply.sbom.cyclonedx.name} (${m.supply.sbom.packages} packages, ${m.supply.sbom.artifacts} artifacts, ${m.supply.sbom.crates} crates)` : 'none'}`,
    `Provenance:       ${m.supply ? `${m.supply.provenance.name} (sha256 ${m.supply.provenance.sha256})` : 'none'}`,
    `Module signing:   ${m.supply?.signing ? `signer "${m.supply.signing.signer}"${m.supply.signing.generated ? ' (key made for this build)' : ''}, certificate ${m.supply.signing.certificate.name}; ${m.supply.signing.modules.map((x) => `${x.name} key ${x.key_id}`).join(', ')}` : 'not signed'}`,
    `Built by:         vexfs-image ${m.tool.version} (${m.accelerator ?? 'unknown'} accelerator)`,
    `Stage times:`,
    ...Object.entries(m.stage_times_ms).map(([k, v]) => `  ${k.padEnd(16)} ${(v / 1000).toFixed(1)} s`),
  ];
  return `${lines.join('\n')}\n`;
}
