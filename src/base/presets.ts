// What `--distro` names: a built Debian preset, a downloaded cloud image (Ubuntu preset or any
// URL), or a local disk image. Parsing is pure and unit-tested.
import { UsageError } from '../errors.js';
import { urlFileName } from './file-name.js';

export interface DebianPreset {
  name: string;
  version: string;
  suite: string;
}

export const DEBIAN_PRESETS: Readonly<Record<string, DebianPreset>> = {
  'debian-13': { name: 'debian-13', version: '13', suite: 'trixie' },
  'debian-12': { name: 'debian-12', version: '12', suite: 'bookworm' },
};

export interface DownloadPreset {
  name: string;
  /** Path under the mirror (default https://cloud-images.ubuntu.com/releases). */
  path: string;
  file: string;
}

export const UBUNTU_PRESETS: Readonly<Record<string, DownloadPreset>> = {
  'ubuntu-24.04': { name: 'ubuntu-24.04', path: 'noble/release', file: 'ubuntu-24.04-server-cloudimg-amd64.img' },
  'ubuntu-22.04': { name: 'ubuntu-22.04', path: 'jammy/release', file: 'ubuntu-22.04-server-cloudimg-amd64.img' },
};

export const DEFAULT_DISTRO = 'debian-13';
export const DEFAULT_UBUNTU_MIRROR = 'https://cloud-images.ubuntu.com/releases';
export const PRESET_NAMES = [...Object.keys(DEBIAN_PRESETS), ...Object.keys(UBUNTU_PRESETS)];

export type BaseSource =
  | { kind: 'debian'; preset: DebianPreset }
  | { kind: 'download'; name: string; url: string; fileName: string; checksumsUrl?: string; sha256?: string }
  | { kind: 'local'; path: string };

const SHA256_RE = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/** "sha256:<64 hex>" or bare hex → lower-case hex. */
export function parseChecksum(value: string): string {
  const m = SHA256_RE.exec(value.trim());
  if (!m?.[1]) throw new UsageError(`--checksum must be sha256:<64 hex digits>, got ${JSON.stringify(value)}`);
  return m[1].toLowerCase();
}

export interface ParseOptions {
  checksum?: string;
  /** VEXFS_IMAGE_UBUNTU_MIRROR: a local mirror of cloud-images.ubuntu.com/releases (air-gapped CI). */
  ubuntuMirror?: string;
}

export function parseBaseSpec(spec: string, opts: ParseOptions = {}): BaseSource {
  const sha256 = opts.checksum !== undefined ? parseChecksum(opts.checksum) : undefined;
  const debian = DEBIAN_PRESETS[spec];
  if (debian) {
    if (sha256) throw new UsageError(`--checksum applies to downloaded images, not to ${spec}, which is built from Debian packages`);
    return { kind: 'debian', preset: debian };
  }
  const ubuntu = UBUNTU_PRESETS[spec];
  if (ubuntu) {
    const mirror = (opts.ubuntuMirror || DEFAULT_UBUNTU_MIRROR).replace(/\/+$/, '');
    const dir = `${mirror}/${ubuntu.path}`;
    return { kind: 'download', name: spec, url: `${dir}/${ubuntu.file}`, fileName: ubuntu.file, checksumsUrl: sha256 ? undefined : `${dir}/SHA256SUMS`, sha256 };
  }
  if (/^https?:\/\//i.test(spec)) {
    let u: URL;
    try {
      u = new URL(spec);
    } catch {
      throw new UsageError(`not a valid URL: ${spec}`);
    }
    const fileName = urlFileName(u, spec);
    const checksumsUrl = sha256 ? undefined : new URL('SHA256SUMS', u).toString();
    return { kind: 'download', name: spec, url: u.toString(), fileName, checksumsUrl, sha256 };
  }
  if (/^[a-z]+:\/\//i.test(spec)) throw new UsageError(`unsupported URL scheme in ${spec}: use http:// or https://`);
  if (sha256) throw new UsageError('--checksum applies to downloaded images, not to local files');
  if (!spec.includes('/') && !spec.includes('.')) {
    // Looks like a misspelt preset rather than a file name.
    throw new UsageError(`unknown distro ${JSON.stringify(spec)}`, { hint: `use one of ${PRESET_NAMES.join(', ')}, a path to a disk image, or an http(s) URL` });
  }
  return { kind: 'local', path: spec };
}

/** Parses a SHA256SUMS file ("<hex>  name" or "<hex> *name") into name → digest. */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(.+?)\s*$/.exec(line);
    if (m?.[1] && m[2]) out.set(m[2].replace(/^\.\//, ''), m[1].toLowerCase());
  }
  return out;
}

/** Ubuntu presets name amd64 files: another architecture's base is a Debian preset, a URL or a path. */
export function assertBaseArch(spec: string, arch: string): void {
  if (arch !== 'amd64' && Object.hasOwn(UBUNTU_PRESETS, spec)) {
    throw new UsageError(`${spec} is an amd64 cloud image: for --arch ${arch} use ${Object.keys(DEBIAN_PRESETS).join(' or ')}, or a URL or path of an ${arch} image`);
  }
}
