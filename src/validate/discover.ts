// Which images to validate, and what each one is (variant, version): from the manifest JSON the
// build writes next to the image, else from the file name vexfs-<variant>-<version>.qcow2 (or
// .raw, .vhd, .vmdk: the cloud formats `build --format` writes beside it).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { ARCHES, archSpec, DEFAULT_ARCH, parseArch, type Arch } from '../arch.js';

export interface ImageTarget {
  path: string;
  /** File name without .qcow2 (other formats keep their extension: vexfs-minimal-1.0.0.vhd). */
  name: string;
  variant: string;
  version: string;
  /** The image's architecture: its manifest's `architecture`, else its name's -arm64, else the override or amd64. */
  arch: Arch;
  identitySource: 'manifest' | 'filename' | 'unknown';
  /** sha256 of the qcow2 recorded in the manifest, when there is one. */
  manifestSha256?: string;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The spec's lookup: no argument = every *.qcow2 in the images directory (sorted, not
 * recursive); an argument that is a file is used as is, otherwise it is looked up in the images
 * directory (also with .qcow2 appended).
 */
export function resolveImagePaths(args: readonly string[], imagesDir: string, cwd = process.cwd()): string[] {
  const dir = resolve(cwd, imagesDir);
  if (args.length === 0) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UsageError(`images directory ${dir} does not exist`, { hint: 'build images first (vexfs-image build) or pass -d/--images-dir DIR' });
    }
    const found = readdirSync(dir)
      .filter((n) => n.endsWith('.qcow2') && isFile(join(dir, n)))
      .sort()
      .map((n) => join(dir, n));
    if (found.length === 0) throw new UsageError(`no *.qcow2 images in ${dir}`, { hint: 'build images first (vexfs-image build) or pass -d/--images-dir DIR' });
    return found;
  }
  const out: string[] = [];
  for (const a of args) {
    const candidates = [resolve(cwd, a), join(dir, a), join(dir, `${a}.qcow2`)];
    const hit = candidates.find(isFile);
    if (!hit) throw new UsageError(`image not found: ${a} (looked at ${[...new Set(candidates)].join(', ')})`, { hint: 'pass a path or a file name in -d/--images-dir' });
    if (!out.includes(hit)) out.push(hit);
  }
  return out;
}

/** The image files validate boots, by extension (qemu-img's format names are chosen by tools/qemu-img.ts). */
export const IMAGE_EXTENSIONS = ['qcow2', 'raw', 'vhd', 'vmdk'] as const;
const EXT_RE = new RegExp(`\\.(${IMAGE_EXTENSIONS.join('|')})$`);

/** vexfs-minimal-1.0.0.vhd -> { stem: vexfs-minimal-1.0.0, name: vexfs-minimal-1.0.0.vhd }; a qcow2's name is its stem. */
export function imageNames(path: string): { stem: string; name: string } {
  const file = basename(path);
  const m = EXT_RE.exec(file);
  const stem = m ? file.slice(0, -m[0].length) : file;
  return { stem, name: !m || m[1] === 'qcow2' ? stem : file };
}

const NAME_RE = /^vexfs-([a-z][a-z0-9-]*?)-(\d[0-9A-Za-z.+~-]*)$/;

/** The architecture a published file name ends in (-arm64), and the name without it. */
export function archFromName(name: string): { arch?: Arch; stem: string } {
  for (const a of ARCHES) {
    const suffix = archSpec(a).fileSuffix;
    if (suffix && name.endsWith(suffix)) return { arch: a, stem: name.slice(0, -suffix.length) };
  }
  return { stem: name };
}

export function identityFromName(name: string): { variant: string; version: string; arch?: Arch } | undefined {
  const { arch, stem } = archFromName(name);
  const m = NAME_RE.exec(stem);
  return m ? { variant: m[1]!, version: m[2]!, ...(arch ? { arch } : {}) } : undefined;
}

/** Reads <name>.json (or <file>.json) next to the image; ignores anything that is not a manifest. */
function readManifest(path: string): { variant: string; version: string; sha256?: string; arch?: Arch } | undefined {
  const { stem } = imageNames(path);
  for (const p of [join(path, '..', `${stem}.json`), `${path}.json`]) {
    if (!isFile(p)) continue;
    try {
      const j = JSON.parse(readFileSync(p, 'utf8')) as { variant?: unknown; version?: unknown; architecture?: unknown; files?: { image?: { sha256?: unknown; name?: unknown }; formats?: Array<{ sha256?: unknown; name?: unknown }> } };
      if (typeof j.variant === 'string' && typeof j.version === 'string') {
        const img = j.files?.image;
        // The digest of this very file: the qcow2's, or one of the other formats'.
        const other = Array.isArray(j.files?.formats) ? j.files.formats.find((f) => f && f.name === basename(path)) : undefined;
        const sha =
          img && typeof img.sha256 === 'string' && (img.name === undefined || img.name === basename(path))
            ? img.sha256
            : other && typeof other.sha256 === 'string'
              ? other.sha256
              : undefined;
        // A manifest from before architectures were recorded is an amd64 image.
        const arch = typeof j.architecture === 'string' ? parseArch(j.architecture, `architecture in ${p}`) : DEFAULT_ARCH;
        return { variant: j.variant, version: j.version, sha256: sha, arch };
      }
    } catch {
      /* not JSON: fall back to the file name */
    }
  }
  return undefined;
}

export function identifyImage(path: string, override: { variant?: string; version?: string; arch?: Arch } = {}): ImageTarget {
  const { stem, name } = imageNames(path);
  const manifest = readManifest(path);
  const fromName = identityFromName(stem);
  const src = manifest ?? fromName;
  const known = manifest?.arch ?? fromName?.arch;
  if (override.arch && known && override.arch !== known) {
    throw new UsageError(`${path} is an ${known} image (its ${manifest?.arch ? 'manifest' : 'name'} says so), not ${override.arch}: drop --arch or give the right image`);
  }
  return {
    path,
    name,
    variant: override.variant ?? src?.variant ?? 'unknown',
    version: override.version ?? src?.version ?? 'unknown',
    arch: manifest?.arch ?? fromName?.arch ?? override.arch ?? DEFAULT_ARCH,
    identitySource: manifest ? 'manifest' : fromName ? 'filename' : 'unknown',
    ...(manifest?.sha256 ? { manifestSha256: manifest.sha256 } : {}),
  };
}
