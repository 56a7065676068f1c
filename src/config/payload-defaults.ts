// The default payload: the VexFS layout of examples/vexfs (vexfs.ko, vexctl, its config, unit,
// helpers and modules-load entry from guest/files/). A project that declares `payload.modules`
// starts from nothing instead; one that does not keeps these and may replace or drop each file.
import { join } from 'node:path';
import { GUEST_DIR } from '../paths.js';
import type { CheckDef } from './schema.js';
import type { PayloadFile, PayloadModule, PayloadTool } from './payload-types.js';

const FILES = join(GUEST_DIR, 'files');

export const DEFAULT_BUILD_COMMAND = 'make vm-build';

export const VEXFS_MODULES: readonly PayloadModule[] = Object.freeze([{ name: 'vexfs', path: '**/vexfs.ko', installDir: 'extra/vexfs', filesystem: 'vexfs' }]);

// Extra checks of the VexFS defaults (already-parsed check definitions), kept with what they check.
const vexctlStatus: CheckDef = {
  id: 'vexctl-status',
  description: 'vexctl status reports the module loaded',
  group: 'vexfs',
  type: 'command',
  sudo: false,
  command: 'vexctl status',
  severity: 'warning',
  needs: ['module-load'],
  expect: { exit_code: 0 },
};

const confVersion: CheckDef = {
  id: 'vexfs-conf-version',
  description: '/etc/vexfs/vexfs.conf names the image\'s version',
  group: 'vexfs',
  type: 'command',
  command: 'cat /etc/vexfs/vexfs.conf',
  expect: { exit_code: 0, stdout_matches: '^\\s*version\\s*=\\s*"?{{version}}"?\\s*$' },
  needs: ['vexfs-conf'],
  severity: 'error',
  sudo: true,
};

export const VEXFS_TOOLS: readonly PayloadTool[] = Object.freeze([
  {
    name: 'vexctl',
    // cargo's release output (target/release/vexctl), not the vexctl/ crate directory.
    path: '**/release/vexctl',
    installPath: '/usr/local/bin/vexctl',
    version: { command: 'vexctl --version', expect: 'vexctl {{version}}' },
    required: true,
    extraChecks: [vexctlStatus],
  },
]);

const file = (path: string, f: Omit<PayloadFile, 'path' | 'extraChecks'> & { extraChecks?: CheckDef[] }): PayloadFile => ({ path, extraChecks: [], ...f });

/** In today's check order: the config file first, the others after the mount round trip. */
export const VEXFS_FILES: readonly PayloadFile[] = Object.freeze([
  file('/etc/vexfs/vexfs.conf', { from: join(FILES, 'etc/vexfs/vexfs.conf.tmpl'), template: true, mode: '0644', config: true, check: { id: 'vexfs-conf', group: 'vexfs', severity: 'error' }, extraChecks: [confVersion] }),
  // Covered by the service checks of vexfs.service.
  file('/etc/systemd/system/vexfs.service', { from: join(FILES, 'etc/systemd/system/vexfs.service'), template: false, mode: '0644', config: false, check: false }),
  file('/usr/local/bin/vexfs-mount-helper', { from: join(FILES, 'usr/local/bin/vexfs-mount-helper'), template: false, mode: '0755', config: false, check: { id: 'mount-helper', group: 'system', severity: 'error' } }),
  file('/usr/local/bin/vexfs-umount-helper', { from: join(FILES, 'usr/local/bin/vexfs-umount-helper'), template: false, mode: '0755', config: false, check: { id: 'umount-helper', group: 'system', severity: 'error' } }),
  // The spec's log file: exists, may be empty (a warning, as the spec's log_warning).
  file('/var/log/vexfs.log', { content: '', template: false, mode: '0644', config: false, check: { id: 'vexfs-log', group: 'system', severity: 'warning' } }),
  file('/etc/modules-load.d/vexfs.conf', { from: join(FILES, 'etc/modules-load.d/vexfs.conf'), template: false, mode: '0644', config: false, check: { id: 'modules-load-conf', group: 'system', severity: 'error' } }),
]);

export const VEXFS_SERVICES: readonly string[] = Object.freeze(['vexfs.service']);
