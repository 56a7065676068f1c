// The image's SBOM in two formats: CycloneDX 1.6 JSON (written with the maintained CycloneDX
// library) and SPDX 2.3 JSON (by hand: no maintained JavaScript writer of SPDX 2.3 exists; the
// unit tests validate it against the official schema). Both list the Debian packages from the
// image's dpkg database, the payload's installed artifacts with their sha256, and the Rust crates
// of the source's Cargo.lock files.
import { createHash } from 'node:crypto';
import { PackageURL } from 'packageurl-js';
import type { InstalledArtifact } from '../builder/context.js';
import type { Crate } from './cargo.js';
import { spdxExpression, type DebPackage } from './dpkg.js';

export interface SbomInput {
  imageName: string;
  variant: string;
  version: string;
  /** The image's Debian architecture (amd64, arm64). */
  architecture?: string;
  toolVersion: string;
  /** SOURCE_DATE_EPOCH when set, else the build's start: the documents' creation time. */
  created: Date;
  image: { name: string; sha256: string };
  /** Which distribution the packages come from (purl namespace), e.g. debian, ubuntu. */
  distro: string;
  kernel?: string;
  packages: readonly DebPackage[];
  /** Package name -> DEP-5 licence names. */
  licences: Readonly<Record<string, readonly string[]>>;
  artifacts: readonly InstalledArtifact[];
  crates: readonly Crate[];
}

export const SBOM_SUFFIX = { spdx: '.spdx.json', cyclonedx: '.cdx.json' } as const;

export const debPurl = (p: DebPackage, distro: string): string => new PackageURL('deb', distro, p.name, p.version, { arch: p.architecture }, undefined).toString();
export const cargoPurl = (c: Crate): string => new PackageURL('cargo', undefined, c.name, c.version, undefined, undefined).toString();

/** A deterministic UUID-shaped id from the image digest: the same image gets the same document ids. */
export function uuidFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  // RFC 4122 layout, version 5-style nibble and variant bits, so validators accept it as a UUID.
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const spdxRef = (kind: string, ...parts: string[]): string => `SPDXRef-${kind}-${parts.join('-').replace(/[^A-Za-z0-9.-]/g, '.')}`;
export const licencesOf = (input: SbomInput, p: DebPackage): readonly string[] => input.licences[p.name] ?? [];

// ---------------------------------------------------------------------------------------------
// SPDX 2.3

export function spdxDocument(input: SbomInput): Record<string, unknown> {
  const imageId = 'SPDXRef-Image';
  const packages: Array<Record<string, unknown>> = [];
  const relationships: Array<Record<string, string>> = [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imageId }];
  const contains = (id: string): void => void relationships.push({ spdxElementId: imageId, relationshipType: 'CONTAINS', relatedSpdxElement: id });
  const none = { downloadLocation: 'NOASSERTION', filesAnalyzed: false, licenseConcluded: 'NOASSERTION', copyrightText: 'NOASSERTION' };

  /** One SPDX package contained in the image: its id, name and version first, then what it adds. */
  const contained = (id: string, name: string, version: string | undefined, rest: Record<string, unknown>): void => {
    packages.push({ SPDXID: id, name, ...(version !== undefined ? { versionInfo: version } : {}), ...none, licenseDeclared: 'NOASSERTION', ...rest });
    contains(id);
  };

  packages.push({
    SPDXID: imageId,
    name: input.imageName,
    versionInfo: input.version,
    ...none,
    licenseDeclared: 'NOASSERTION',
    primaryPackagePurpose: 'OPERATING-SYSTEM',
    checksums: [{ algorithm: 'SHA256', checksumValue: input.image.sha256 }],
    comment: `vexfs-image ${input.variant} image ${input.image.name}${input.architecture ? ` (${input.architecture})` : ''}${input.kernel ? `, kernel ${input.kernel}` : ''}`,
  });
  for (const p of input.packages) {
    contained(spdxRef('deb', p.name, p.architecture), p.name, p.version, {
      licenseDeclared: spdxExpression(licencesOf(input, p)) ?? 'NOASSERTION',
      sourceInfo: `built package from: ${p.source} ${p.sourceVersion}`,
      ...(p.homepage ? { homepage: p.homepage } : {}),
      primaryPackagePurpose: 'INSTALL',
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: debPurl(p, input.distro) }],
    });
  }
  // Artifacts by path: two files may share a name (/etc/vexfs/vexfs.conf, /etc/modules-load.d/vexfs.conf).
  for (const a of input.artifacts) {
    contained(spdxRef('artifact', a.kind, a.path), a.name, undefined, {
      primaryPackagePurpose: a.kind === 'tool' ? 'APPLICATION' : a.kind === 'module' ? 'LIBRARY' : 'FILE',
      checksums: [{ algorithm: 'SHA256', checksumValue: a.sha256 }],
      comment: `${a.kind} installed at ${a.path} (${a.size} bytes)${a.vermagic ? `, vermagic ${a.vermagic}` : ''}`,
    });
  }
  for (const c of input.crates) {
    contained(spdxRef('crate', c.name, c.version), c.name, c.version, {
      primaryPackagePurpose: 'LIBRARY',
      ...(c.checksum ? { checksums: [{ algorithm: 'SHA256', checksumValue: c.checksum }] } : {}),
      sourceInfo: `from ${c.lockfile}${c.source ? `, ${c.source}` : ', the source tree'}`,
      externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: cargoPurl(c) }],
    });
  }
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: input.imageName,
    // Unique per image content, stable across re-serialisations of the same image.
    documentNamespace: `https://spdx.org/spdxdocs/${input.imageName}-${uuidFrom(`spdx:${input.image.sha256}`)}`,
    creationInfo: { created: isoSeconds(input.created), creators: [`Tool: vexfs-image-${input.toolVersion}`] },
    packages,
    relationships,
  };
}

// ---------------------------------------------------------------------------------------------
// CycloneDX 1.6

export function spdxJson(input: SbomInput): string {
  return `${JSON.stringify(spdxDocument(input), null, 2)}\n`;
}
