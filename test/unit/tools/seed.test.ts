import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cloudLocaldsArgs, makeSeedIso, renderUserData } from '../../../src/tools/seed.js';
import { tempDir } from '../../helpers/fs.js';

describe('renderUserData', () => {
  test('starts with #cloud-config and round-trips as YAML data, even with YAML-hostile strings', () => {
    const userData = {
      users: [{ name: 'vexfs', ssh_authorized_keys: ['ssh-ed25519 AAAAC3Nza vexfs-image-ephemeral'] }],
      write_files: [{ path: '/etc/motd', content: 'key: value\n- not a list\n# not a comment\n"quoted" \'single\'\n' }],
      runcmd: [['sh', '-c', 'echo "a: b" && exit 0']],
      long: 'x'.repeat(300),
    };
    const text = renderUserData(userData);
    assert.ok(text.startsWith('#cloud-config\n'));
    assert.deepEqual(parse(text), userData);
  });

  test('long strings are never folded across lines', () => {
    const key = `ssh-ed25519 ${'A'.repeat(200)} comment`;
    const text = renderUserData({ ssh_authorized_keys: [key] });
    assert.ok(text.split('\n').some((l) => l.includes(key)));
  });
});

test('cloudLocaldsArgs: output ISO, user-data, meta-data; network config as an option first', () => {
  assert.deepEqual(cloudLocaldsArgs('/s/seed.iso', '/s/ud', '/s/md'), ['/s/seed.iso', '/s/ud', '/s/md']);
  assert.deepEqual(cloudLocaldsArgs('/s/seed.iso', '/s/ud', '/s/md', '/s/nc'), ['--network-config=/s/nc', '/s/seed.iso', '/s/ud', '/s/md']);
});

test('makeSeedIso: a "cidata" ISO holding the user-data and meta-data (real cloud-localds)', { timeout: 30_000 }, async () => {
  const dir = tempDir();
  const iso = await makeSeedIso(dir, {
    userData: { hostname: 'vexfs-seed-test', packages: ['kmod'] },
    metaData: { 'instance-id': 'iid-vexfs-1234', 'local-hostname': 'vexfs-seed-test' },
    networkConfig: { version: 2, ethernets: { eth0: { dhcp4: true } } },
  });
  assert.equal(iso, join(dir, 'seed.iso'));
  const bytes = readFileSync(iso);
  // ISO 9660 primary volume descriptor at sector 16; its volume identifier at byte 40.
  assert.equal(bytes.toString('latin1', 16 * 2048 + 1, 16 * 2048 + 6), 'CD001');
  assert.equal(bytes.toString('latin1', 16 * 2048 + 40, 16 * 2048 + 72).trim().toLowerCase(), 'cidata');
  assert.ok(bytes.includes('instance-id: iid-vexfs-1234'), 'meta-data inside');
  assert.ok(bytes.includes('#cloud-config\nhostname: vexfs-seed-test'), 'user-data inside');
  assert.ok(bytes.includes('dhcp4: true'), 'network-config inside');
  // user-data can carry secrets: not world-readable.
  assert.equal(statSync(join(dir, 'user-data')).mode & 0o077, 0);
});

test('accessSeed: one key-only sudo user, no package work, nothing to grow, sshd settings left to the image', async () => {
  const { accessSeed } = await import('../../../src/tools/seed.js');
  const s = accessSeed({ instanceId: 'i-1', hostname: 'h', user: 'vexfs-validate', gecos: 'g', publicKey: 'ssh-ed25519 AAAA k' });
  assert.deepEqual(s.metaData, { 'instance-id': 'i-1', 'local-hostname': 'h' });
  const u = s.userData as Record<string, unknown> & { users: Array<Record<string, unknown>> };
  assert.equal(u.users.length, 1);
  assert.equal(u.users[0]!.name, 'vexfs-validate');
  assert.equal(u.users[0]!.lock_passwd, true);
  assert.deepEqual(u.users[0]!.ssh_authorized_keys, ['ssh-ed25519 AAAA k']);
  assert.equal(u.package_update, false);
  assert.deepEqual(u.growpart, { mode: 'off' });
  assert.equal(u.resize_rootfs, false);
  assert.equal('ssh_pwauth' in u, false);
});

test('seed YAML is read as intended by a YAML 1.1 parser (PyYAML, as cloud-init): off/on/yes/no stay strings', () => {
  const text = renderUserData({ growpart: { mode: 'off' }, a: 'yes', b: 'on', c: 'no', d: true, e: 'plain' });
  // The `yaml` package's 1.1 schema reads booleans as PyYAML does.
  const back = parse(text, { version: '1.1' }) as Record<string, unknown>;
  assert.deepEqual(back, { growpart: { mode: 'off' }, a: 'yes', b: 'on', c: 'no', d: true, e: 'plain' });
  assert.equal((parse('mode: off\n', { version: '1.1' }) as { mode: unknown }).mode, false, 'unquoted off is a boolean in YAML 1.1');
});
