// The typed context the build steps share: a frozen plan in, typed fields written by steps.
import type { BuildPlan } from '../config/load.js';
import type { Lock } from '../base/lock.js';
import type { HasSession, VmSession } from '../vm/session.js';
import type { InputParts } from './inputs.js';
import type { SupplyFacts } from '../supply/inventory.js';
import type { SigningFacts } from './sign.js';
import type { WarmStart } from './warm-start.js';
import { archFileStem, DEFAULT_ARCH, type Arch } from '../arch.js';

export const BUILD_USER = 'vexfs';
export const SOURCE_MOUNT_TAG = 'vexfs_source';
export const SOURCE_DISK_SERIAL = 'vexfs-source';
export const GUEST_SOURCE_MOUNT = '/mnt/vexfs-source';

export interface BaseInfo {
  path: string;
  format: string;
  digest: string;
  source: string;
}

/** A module, tool or file the build installed (build-payload.sh reports them). */
export interface InstalledArtifact {
  kind: 'module' | 'tool' | 'file';
  name: string;
  path: string;
  size: number;
  sha256: string;
  vermagic?: string;
}

export interface GuestFacts {
  kernel?: string;
  vermagic?: string;
  moduleSha256?: string;
  moduleVersion?: string;
  vexctlSha256?: string;
  artifacts?: InstalledArtifact[];
  packageCount?: number;
  /** ssh: a tar stream into the build directory (a VM resumed from a snapshot: builder/warm-start.ts). */
  sourceTransport?: 'virtfs' | 'disk' | 'ssh';
}

export interface Artifacts {
  image: string;
  imageSha256: string;
  imageSize: number;
  compressed: string;
  compressedSha256: string;
  compressedSize: number;
  /** The other formats asked for (--format), published next to the qcow2. */
  formats?: Array<{ format: string; path: string; sha256: string; size: number }>;
  manifestJson: string;
  manifestText: string;
}

export interface BuildContext extends HasSession {
  readonly plan: Readonly<BuildPlan>;
  readonly startedAt: Date;
  /** build/vm-<variant>/: disk, seed, key, serial log. Removed unless --no-cleanup. */
  readonly vmDir: string;
  readonly logDir: string;
  /** Final names, e.g. vexfs-minimal-1.0.0.qcow2 in the output directory. */
  readonly imageName: string;
  /** The build VM: its profile, overlay (the future image), seed, QEMU, SSH; --timeout counts from its power-on. */
  readonly session: VmSession;
  toolVersions: Record<string, string>;
  base?: BaseInfo;
  /** The base's shared "in use" lock, held until the build ends. */
  baseLock?: Lock;
  /** The exclusive lock on this variant's VM directory: one build of a variant at a time. */
  vmDirLock?: Lock;
  guest: GuestFacts;
  sourceCommit?: string;
  /** The inputs digest's parts but the base (builder/inputs.ts), computed before the steps run. */
  inputParts?: Omit<InputParts, 'base'>;
  /** What the SBOM needs from the build VM (src/supply/inventory.ts). */
  supply?: SupplyFacts;
  /** Set by the sign-modules step (builder/sign.ts). */
  signing?: SigningFacts;
  artifacts?: Artifacts;
  /** A build VM that may be saved as, or resumed from, a snapshot (builder/warm-start.ts). */
  warm?: WarmStart;
  /** An incremental build: the cached image it started from (builder/incremental/). */
  incrementalFrom?: { imageSha256: string };
}

/** vexfs-<variant>-<version>, with -arm64 for arm64 (amd64's names are as they always were). */
export function imageBaseName(variant: string, version: string, arch: Arch = DEFAULT_ARCH): string {
  return archFileStem(`vexfs-${variant}-${version}`, arch);
}

/** Where finalise stages a build's files inside the output directory, before it renames them in. */
export const partialDirName = (imageName: string, pid: number): string => `.${imageName}.partial-${pid}`;

/** Partial directories of any build (prepare removes those whose build was killed). */
export const isPartialDirName = (name: string): boolean => /^\..+\.partial-\d+$/.test(name);
