// What the host needs for a guest architecture, judged before anything is written: its QEMU
// binary and UEFI firmware to boot it, qemu-user + binfmt-support to build its base from
// packages. A missing one is bad input (exit 2) naming the Debian packages.
import { existsSync } from 'node:fs';
import { archSpec, type Arch, type FirmwareFiles } from '../arch.js';
import { UsageError } from '../errors.js';
import { which } from './host-tools.js';

export type ArchNeed = 'vm' | 'base';

export interface ArchHostStatus {
  arch: Arch;
  /** Each requirement: what, found, the Debian package that provides it. */
  items: Array<{ what: string; found: boolean; pkg: string; need: ArchNeed }>;
  /** The first firmware pair found (undefined when none is). */
  firmware?: FirmwareFiles;
}

export interface ArchHostProbe {
  which: (tool: string, pathEnv?: string) => string | undefined;
  exists: (path: string) => boolean;
}

const REAL: ArchHostProbe = { which: (t, p) => which(t, p), exists: existsSync };

/** VEXFS_IMAGE_AAVMF_CODE + VEXFS_IMAGE_AAVMF_VARS: other firmware files for arm64 (like OVMF's variables for amd64). */
export function uefiCandidates(arch: Arch, env: NodeJS.ProcessEnv = process.env): readonly FirmwareFiles[] {
  const s = archSpec(arch);
  if (arch === 'arm64' && (env.VEXFS_IMAGE_AAVMF_CODE || env.VEXFS_IMAGE_AAVMF_VARS)) return [{ code: env.VEXFS_IMAGE_AAVMF_CODE ?? '', varsTemplate: env.VEXFS_IMAGE_AAVMF_VARS ?? '' }];
  return s.uefiCandidates;
}

export function archHostStatus(arch: Arch, probe: ArchHostProbe = REAL, env: NodeJS.ProcessEnv = process.env): ArchHostStatus {
  const s = archSpec(arch);
  const items: ArchHostStatus['items'] = [];
  for (const { tool, pkg } of s.vmHostPackages) items.push({ what: tool, found: Boolean(probe.which(tool, env.PATH)), pkg, need: 'vm' });
  const candidates = uefiCandidates(arch, env);
  const firmware = candidates.find((c) => c.code && c.varsTemplate && probe.exists(c.code) && probe.exists(c.varsTemplate));
  // amd64 boots with SeaBIOS when there is no OVMF: its firmware is only needed for uefi profiles.
  if (!s.firmwares.includes('bios')) {
    items.push({ what: `UEFI firmware ${candidates.map((c) => c.code || '(VEXFS_IMAGE_AAVMF_CODE unset)').join(' or ')}`, found: Boolean(firmware), pkg: s.uefiPackage, need: 'vm' });
  }
  for (const { tool, pkg } of s.baseHostPackages) items.push({ what: tool, found: Boolean(probe.which(tool, env.PATH)), pkg, need: 'base' });
  return { arch, items, ...(firmware ? { firmware } : {}) };
}

/**
 * Throws bad input when the host lacks what `needs` asks for this architecture. amd64's QEMU is
 * left to doctor's check (a precondition, as it always was); a foreign one is named here.
 */
export function assertArchHost(arch: Arch, needs: readonly ArchNeed[], env: NodeJS.ProcessEnv = process.env, probe: ArchHostProbe = REAL): ArchHostStatus {
  const st = archHostStatus(arch, probe, env);
  if (arch === 'amd64') return st;
  const missing = st.items.filter((i) => !i.found && needs.includes(i.need));
  if (missing.length) {
    // Every package the job needs for this architecture, so one apt-get line fixes it.
    const all = [...new Set(st.items.filter((i) => needs.includes(i.need)).map((i) => i.pkg))];
    throw new UsageError(
      `${arch} guests need ${missing.map((m) => `${m.what} (Debian package ${m.pkg})`).join(', ')}, not installed: apt-get install -y ${all.join(' ')}`,
    );
  }
  return st;
}
