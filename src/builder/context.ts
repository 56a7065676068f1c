// The typed context the build steps share: a frozen plan in, typed fields written by steps.
import type { BuildPlan } from '../config/load.js';
import type { Accel, Vm } from '../tools/qemu.js';
import type { SshKey, SshTarget } from '../tools/ssh.js';

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
  sourceTransport?: 'virtfs' | 'disk';
  cleanShutdown?: boolean;
}

export interface Artifacts {
  image: string;
  imageSha256: string;
  imageSize: number;
  compressed: string;
  compressedSha256: string;
  compressedSize: number;
  manifestJson: string;
  manifestText: string;
}

export interface BuildContext {
  readonly plan: Readonly<BuildPlan>;
  readonly startedAt: Date;
  /** build/vm-<variant>/: disk, seed, key, serial log. Removed unless --no-cleanup. */
  readonly vmDir: string;
  readonly logDir: string;
  /** Final names, e.g. vexfs-minimal-1.0.0.qcow2 in the output directory. */
  readonly imageName: string;
  accel?: Accel;
  toolVersions: Record<string, string>;
  base?: BaseInfo;
  disk?: string;
  sourceDisk?: string;
  key?: SshKey;
  seedIso?: string;
  vm?: Vm;
  /** Epoch ms by which the in-VM work must be done (--timeout, counted from boot). */
  deadline?: number;
  ssh?: SshTarget;
  sshReadyMs?: number;
  cloudInitMs?: number;
  guest: GuestFacts;
  sourceCommit?: string;
  artifacts?: Artifacts;
}

export function imageBaseName(variant: string, version: string): string {
  return `vexfs-${variant}-${version}`;
}
