// The build VM's cloud-init user-data, as data. The files it installs are the payload's: real
// files under guest/files/ for the VexFS defaults, or the project's own (templates get {{key}}
// substitution).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { BuildPlan } from '../config/load.js';
import { DEFAULT_PAYLOAD } from '../config/payload.js';
import type { Payload } from '../config/payload-types.js';
import { UsageError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';
import { BUILD_USER } from './context.js';

export interface GuestFile {
  path: string;
  content: string;
  permissions: string;
}

export function renderTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`template variable {{${k}}} has no value`);
    return v;
  });
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out.sort();
}

/** Loads guest/files/** as the files to install, rendering templates with vars. */
export async function loadGuestFiles(vars: Record<string, string>, root = join(GUEST_DIR, 'files')): Promise<GuestFile[]> {
  const files: GuestFile[] = [];
  for (const p of await walk(root)) {
    const mode = (await stat(p)).mode & 0o777;
    let target = `/${relative(root, p)}`;
    let content = await readFile(p, 'utf8');
    if (target.endsWith('.tmpl')) {
      target = target.slice(0, -'.tmpl'.length);
      content = renderTemplate(content, vars);
    }
    files.push({ path: target, content, permissions: mode & 0o111 ? '0755' : '0644' });
  }
  return files;
}

/** The payload's files, in its order, templates rendered with vars. */
export async function loadPayloadFiles(payload: Pick<Payload, 'files'>, vars: Record<string, string>): Promise<GuestFile[]> {
  const out: GuestFile[] = [];
  for (const f of payload.files) {
    let content = f.from !== undefined ? await readFile(f.from, 'utf8') : (f.content ?? '');
    if (f.template) {
      try {
        content = renderTemplate(content, vars);
      } catch (e) {
        throw new UsageError(`${f.from ?? f.path}: ${(e as Error).message}: the variables are ${Object.keys(vars).join(', ')}`);
      }
    }
    out.push({ path: f.path, content, permissions: f.mode.padStart(4, '0') });
  }
  return out;
}

export function templateVars(plan: Pick<BuildPlan, 'version' | 'variantName' | 'variant'>, buildDate: Date): Record<string, string> {
  return {
    version: plan.version,
    variant: plan.variantName,
    build_date: buildDate.toISOString(),
    default_mount_options: 'rw,noatime',
    log_level: plan.variant.hardening ? 'warn' : plan.variant.keep_toolchain ? 'debug' : 'info',
  };
}

export const BUILD_DPKG_UNSAFE_IO = '/etc/dpkg/dpkg.cfg.d/90-vexfs-image-build-unsafe-io';

export function buildUserData(plan: Pick<BuildPlan, 'basePackages' | 'variant' | 'preinstall'> & { payload?: Pick<Payload, 'services'> }, publicKey: string, files: GuestFile[]): Record<string, unknown> {
  const services = (plan.payload ?? DEFAULT_PAYLOAD).services;
  const packages = [...new Set([...plan.basePackages, ...plan.variant.packages])];
  // Packages already in the base (plan.preinstall) need neither an index refresh nor apt.
  const missing = packages.filter((p) => !plan.preinstall.includes(p));
  return {
    users: [
      {
        name: BUILD_USER,
        gecos: 'vexfs-image build user',
        groups: ['sudo'],
        sudo: 'ALL=(ALL) NOPASSWD:ALL',
        shell: '/bin/bash',
        lock_passwd: true,
        ssh_authorized_keys: [publicKey],
      },
    ],
    ssh_pwauth: false,
    disable_root: true,
    // No recommends, no translations: the toolchain alone, not 300 MB of suggestions.
    apt: { conf: 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\nAcquire::Languages "none";\n' },
    package_update: missing.length > 0,
    package_upgrade: false,
    ...(missing.length > 0 ? { packages: missing } : {}),
    write_files: [
      ...files.map((f) => ({ path: f.path, content: f.content, permissions: f.permissions, owner: 'root:root' })),
      // Build-time only (golden-cleanup.sh removes it): dpkg's per-file fsync is very slow under
      // emulation, and a crashed build VM is thrown away anyway.
      { path: BUILD_DPKG_UNSAFE_IO, content: 'force-unsafe-io\n', permissions: '0644', owner: 'root:root' },
    ],
    // The payload's files (its log file among them) are write_files above; its units get enabled.
    // A snapshot's seed (builderUserData) has neither: they are written after the resume.
    ...(files.length || services.length ? { runcmd: [['systemctl', 'daemon-reload'], ...services.map((u) => ['systemctl', 'enable', u])] } : {}),
  };
}

/**
 * The build VM's user-data without the payload (no files, no units to enable): what a VM saved as
 * a snapshot is booted with (builder/warm-start.ts), since every build resumed from it has its own
 * payload, written over SSH by guest/build/write-files.sh.
 */
export function builderUserData(plan: Pick<BuildPlan, 'basePackages' | 'variant' | 'preinstall'>, publicKey: string): Record<string, unknown> {
  return buildUserData({ ...plan, payload: { services: [] } }, publicKey, []);
}
