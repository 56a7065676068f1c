// The host tools the pipeline uses, the Debian package that provides each, and how to ask
// each for its version.
import { constants, accessSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { run } from './exec.js';

export interface HostTool {
  name: string;
  debPackage: string;
  /** Arguments that make the tool print its version (undefined: ask dpkg). */
  versionArgs?: string[];
  purpose: string;
}

export const HOST_TOOLS: readonly HostTool[] = [
  { name: 'qemu-system-x86_64', debPackage: 'qemu-system-x86', versionArgs: ['--version'], purpose: 'runs the build and validation VMs' },
  { name: 'qemu-img', debPackage: 'qemu-utils', versionArgs: ['--version'], purpose: 'overlays, resize, compaction' },
  { name: 'cloud-localds', debPackage: 'cloud-image-utils', purpose: 'cloud-init NoCloud seed ISO' },
  { name: 'ssh', debPackage: 'openssh-client', versionArgs: ['-V'], purpose: 'runs commands in the guest' },
  { name: 'ssh-keygen', debPackage: 'openssh-client', purpose: 'ephemeral ed25519 keys' },
  { name: 'mmdebstrap', debPackage: 'mmdebstrap', versionArgs: ['--version'], purpose: 'builds Debian base images offline' },
  { name: 'mke2fs', debPackage: 'e2fsprogs', versionArgs: ['-V'], purpose: 'filesystems from directories (base, source disk)' },
  { name: 'sfdisk', debPackage: 'fdisk', versionArgs: ['--version'], purpose: 'partition tables on image files' },
  { name: 'mkfs.fat', debPackage: 'dosfstools', purpose: 'the EFI system partition of Debian bases' },
  { name: 'mcopy', debPackage: 'mtools', versionArgs: ['--version'], purpose: 'files into the EFI system partition (no mount)' },
];

const EXTRA_PATH = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Like `command -v`, also looking in the sbin directories (mke2fs, sfdisk live there). */
export function which(name: string, pathEnv = process.env.PATH ?? ''): string | undefined {
  const dirs = [...pathEnv.split(delimiter).filter(Boolean), ...EXTRA_PATH];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

export interface ToolStatus {
  name: string;
  found: boolean;
  path?: string;
  version?: string;
  debPackage: string;
  purpose: string;
}

async function versionOf(tool: HostTool, path: string): Promise<string | undefined> {
  try {
    if (tool.versionArgs) {
      const r = await run(path, tool.versionArgs, { allowFailure: true, timeoutMs: 10_000 });
      const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => /\d+\.\d+/.test(l));
      if (line) return line.trim();
    }
    const r = await run('dpkg-query', ['-W', '-f', '${Version}', tool.debPackage], { allowFailure: true, timeoutMs: 10_000 });
    return r.exitCode === 0 && r.stdout.trim() ? `${tool.debPackage} ${r.stdout.trim()}` : undefined;
  } catch {
    return undefined;
  }
}

export async function checkHostTools(tools: readonly HostTool[] = HOST_TOOLS): Promise<ToolStatus[]> {
  return Promise.all(
    tools.map(async (t) => {
      const path = which(t.name);
      if (!path) return { name: t.name, found: false, debPackage: t.debPackage, purpose: t.purpose };
      return { name: t.name, found: true, path, version: await versionOf(t, path), debPackage: t.debPackage, purpose: t.purpose };
    }),
  );
}

export function missingPackages(statuses: readonly ToolStatus[]): string[] {
  return [...new Set(statuses.filter((s) => !s.found).map((s) => s.debPackage))].sort();
}

/** The host tools each job needs (doctor names the Debian package of a missing one). */
export const JOB_TOOLS = Object.freeze({
  validate: ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen'],
  /** run boots an image like validate does. */
  run: ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen'],
  /** build also makes the read-only source disk; ci builds and validates. */
  build: ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'],
  ci: ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen', 'mke2fs'],
} as const satisfies Record<string, readonly string[]>);
