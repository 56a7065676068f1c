import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { buildUserData, loadGuestFiles, renderTemplate, templateVars } from '../../../src/builder/user-data.js';
import { renderUserData } from '../../../src/tools/seed.js';
import { BUILTIN_VARIANTS, DEFAULT_BASE_PACKAGES } from '../../../src/config/variants.js';

const plan = {
  version: '1.2.3',
  variantName: 'development',
  variant: BUILTIN_VARIANTS.development!,
  basePackages: DEFAULT_BASE_PACKAGES,
  preinstall: [] as string[],
};

test('templates substitute every variable and refuse unknown ones', () => {
  assert.equal(renderTemplate('v={{version}} x={{variant}}', { version: '1', variant: 'min' }), 'v=1 x=min');
  assert.throws(() => renderTemplate('{{nope}}', {}), /nope/);
});

test('guest files come from guest/files with the spec paths, modes and rendered config', async () => {
  const files = await loadGuestFiles(templateVars(plan, new Date('2026-01-02T03:04:05Z')));
  const byPath = new Map(files.map((f) => [f.path, f]));
  for (const p of [
    '/etc/vexfs/vexfs.conf',
    '/etc/systemd/system/vexfs.service',
    '/usr/local/bin/vexfs-mount-helper',
    '/usr/local/bin/vexfs-umount-helper',
    '/etc/modules-load.d/vexfs.conf',
  ]) {
    assert.ok(byPath.has(p), `missing ${p}`);
  }
  const conf = byPath.get('/etc/vexfs/vexfs.conf')!.content;
  for (const key of ['version = 1.2.3', 'variant = development', 'build_date = 2026-01-02T03:04:05.000Z', 'default_mount_options', '[vector_cache]', '[logging]']) {
    assert.ok(conf.includes(key), `vexfs.conf lacks ${key}`);
  }
  assert.ok(!conf.includes('{{'), 'unrendered template variable');
  assert.equal(byPath.get('/usr/local/bin/vexfs-mount-helper')!.permissions, '0755');
  assert.equal(byPath.get('/etc/vexfs/vexfs.conf')!.permissions, '0644');
});

test('user-data: key-only build user, packages of base and variant, service enabled; valid #cloud-config YAML', async () => {
  const files = await loadGuestFiles(templateVars(plan, new Date()));
  const text = renderUserData(buildUserData(plan, 'ssh-ed25519 AAAAkey test', files));
  assert.ok(text.startsWith('#cloud-config\n'));
  const doc = parse(text) as Record<string, unknown>;
  const users = doc.users as Array<Record<string, unknown>>;
  assert.equal(users[0]!.name, 'vexfs');
  assert.equal(users[0]!.lock_passwd, true);
  assert.deepEqual(users[0]!.ssh_authorized_keys, ['ssh-ed25519 AAAAkey test']);
  assert.equal(doc.ssh_pwauth, false);
  assert.ok(!('password' in users[0]!) && !('passwd' in users[0]!));
  const pkgs = doc.packages as string[];
  for (const p of ['build-essential', 'linux-headers-cloud-amd64', 'cargo', 'vim', 'gdb', 'strace', 'htop', 'tree']) assert.ok(pkgs.includes(p), p);
  assert.deepEqual((doc.runcmd as string[][])[1], ['systemctl', 'enable', 'vexfs.service']);
  const wf = doc.write_files as Array<{ path: string; content: string }>;
  // Multi-line file contents survive the YAML round trip byte for byte.
  assert.equal(wf.find((f) => f.path === '/etc/systemd/system/vexfs.service')!.content, files.find((f) => f.path === '/etc/systemd/system/vexfs.service')!.content);
});

test('user-data: packages already built into the base are neither refreshed nor installed by apt', () => {
  const all = [...DEFAULT_BASE_PACKAGES, ...BUILTIN_VARIANTS.development!.packages];
  const baked = buildUserData({ ...plan, preinstall: all }, 'ssh-ed25519 AAAAkey test', []);
  assert.equal(baked.package_update, false);
  assert.ok(!('packages' in baked));
  const partly = buildUserData({ ...plan, preinstall: [...DEFAULT_BASE_PACKAGES] }, 'ssh-ed25519 AAAAkey test', []);
  assert.equal(partly.package_update, true);
  assert.deepEqual(partly.packages, [...BUILTIN_VARIANTS.development!.packages]);
  const none = buildUserData(plan, 'ssh-ed25519 AAAAkey test', []);
  assert.equal(none.package_update, true);
  assert.deepEqual(none.packages, all);
});
