// cloud-init NoCloud seed: user-data and meta-data serialised as YAML data (never by string
// concatenation) and packed into an ISO labelled "cidata" by cloud-localds.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { run } from './exec.js';
import { shellQuote } from './ssh.js';

export interface SeedInput {
  userData: Record<string, unknown>;
  metaData: { 'instance-id': string; 'local-hostname': string } & Record<string, unknown>;
  networkConfig?: Record<string, unknown>;
}

/**
 * YAML as cloud-init reads it: PyYAML speaks YAML 1.1, where a plain off/on/yes/no is a boolean
 * (growpart's `mode: off` arrived as False), so strings are quoted as 1.1 needs. lineWidth 0:
 * never fold long strings (keys, scripts) across lines.
 */
export function cloudYaml(data: unknown): string {
  return stringify(data, { lineWidth: 0, version: '1.1' });
}

export function renderUserData(userData: Record<string, unknown>): string {
  return `#cloud-config\n${cloudYaml(userData)}`;
}

export function cloudLocaldsArgs(iso: string, userDataPath: string, metaDataPath: string, networkConfigPath?: string): string[] {
  const args = [];
  if (networkConfigPath) args.push(`--network-config=${networkConfigPath}`);
  args.push(iso, userDataPath, metaDataPath);
  return args;
}

/** Writes user-data, meta-data (and network-config) into dir and builds dir/seed.iso. */
export async function makeSeedIso(dir: string, seed: SeedInput, opts: { signal?: AbortSignal; logFile?: string } = {}): Promise<string> {
  const userDataPath = join(dir, 'user-data');
  const metaDataPath = join(dir, 'meta-data');
  await writeFile(userDataPath, renderUserData(seed.userData), { mode: 0o600 });
  await writeFile(metaDataPath, cloudYaml(seed.metaData));
  let networkConfigPath: string | undefined;
  if (seed.networkConfig) {
    networkConfigPath = join(dir, 'network-config');
    await writeFile(networkConfigPath, cloudYaml(seed.networkConfig));
  }
  const iso = join(dir, 'seed.iso');
  await run('cloud-localds', cloudLocaldsArgs(iso, userDataPath, metaDataPath, networkConfigPath), {
    signal: opts.signal,
    logFile: opts.logFile,
    timeoutMs: 60_000,
  });
  return iso;
}

/**
 * A seed for booting a finished image with throw-away access: a new instance-id (cloud-init then
 * runs its per-instance modules: fresh host keys, this user), one user with passwordless sudo
 * and an ephemeral key, no package work. It leaves sshd's settings alone (no ssh_pwauth), so
 * what the image itself configures is what runs. No growpart or resize: the overlay has the
 * image's own size, so there is nothing to grow, and finding that out costs ~2.5 s of cloud-init's
 * network stage under TCG, on the way to SSH.
 */
export function accessSeed(o: { instanceId: string; hostname: string; user: string; gecos: string; publicKey: string }): SeedInput {
  return {
    metaData: { 'instance-id': o.instanceId, 'local-hostname': o.hostname },
    userData: {
      users: [
        {
          name: o.user,
          gecos: o.gecos,
          shell: '/bin/bash',
          sudo: 'ALL=(ALL) NOPASSWD:ALL',
          lock_passwd: true,
          ssh_authorized_keys: [o.publicKey],
        },
      ],
      // sudo warns on every call when the host name does not resolve.
      manage_etc_hosts: 'localhost',
      package_update: false,
      package_upgrade: false,
      growpart: { mode: 'off' },
      resize_rootfs: false,
    },
  };
}

/** Exit status of cloudInitWaitScript in a guest without cloud-init. */
export const CLOUD_INIT_ABSENT = 127;

/**
 * Guest shell that waits until cloud-init has finished booting this instance (its boot-finished
 * file; not `cloud-init status --wait`, whose Python start-up costs tens of seconds under TCG),
 * then prints cloud-init's result.json ("{}" when missing). Without cloud-init: "{}", exit 127.
 */
export function cloudInitWaitScript(instanceId: string): string {
  return [
    `f=/var/lib/cloud/instances/${shellQuote(instanceId)}/boot-finished`,
    `if ! command -v cloud-init >/dev/null; then echo "{}"; exit ${CLOUD_INIT_ABSENT}; fi`,
    'while [ ! -f "$f" ]; do sleep 0.5; done',
    'cat /var/lib/cloud/data/result.json 2>/dev/null || echo "{}"',
  ].join('\n');
}

/** cloud-init's own result file: status done / degraded (recoverable errors) / error. */
export function parseCloudInitResult(text: string): { status: 'done' | 'degraded' | 'error' | 'unknown'; detail?: string } {
  try {
    const j = JSON.parse(text) as { v1?: { errors?: unknown[]; recoverable_errors?: Record<string, unknown[]> } };
    const v1 = j.v1;
    if (!v1) return { status: 'unknown', detail: 'no result.json' };
    if (v1.errors && v1.errors.length) return { status: 'error', detail: String(v1.errors[0]) };
    const rec = Object.entries(v1.recoverable_errors ?? {}).flatMap(([level, list]) => (list ?? []).map((m) => `${level}: ${String(m)}`));
    if (rec.length) return { status: 'degraded', detail: rec[0] };
    return { status: 'done' };
  } catch {
    return { status: 'unknown', detail: 'result.json is not JSON' };
  }
}
