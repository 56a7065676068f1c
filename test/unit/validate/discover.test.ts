import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../helpers/fs.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { identifyImage, identityFromName, resolveImagePaths } from '../../../src/validate/discover.js';
import { parseCloudInitResult } from '../../../src/tools/seed.js';
import { HOSTILE_SEED_VARIANTS, validationSeed, VALIDATION_USER } from '../../../src/validate/seed.js';


async function imagesDir() {
  const root = await tempDir('vx-disc-');
  const dir = join(root, 'images');
  await mkdir(join(dir, 'sub'), { recursive: true });
  for (const f of ['vexfs-production-1.0.0.qcow2', 'vexfs-minimal-1.0.0.qcow2', 'notes.txt', 'sub/vexfs-x-1.qcow2']) await writeFile(join(dir, f), '');
  return { root, dir };
}

test('no argument: every *.qcow2 of the images directory, sorted, not recursive', async () => {
  const { dir } = await imagesDir();
  assert.deepEqual(resolveImagePaths([], dir), [join(dir, 'vexfs-minimal-1.0.0.qcow2'), join(dir, 'vexfs-production-1.0.0.qcow2')]);
});

test('a name that is not a file is looked up in the images directory (with or without .qcow2)', async () => {
  const { root, dir } = await imagesDir();
  assert.deepEqual(resolveImagePaths(['vexfs-minimal-1.0.0.qcow2'], dir, root), [join(dir, 'vexfs-minimal-1.0.0.qcow2')]);
  assert.deepEqual(resolveImagePaths(['vexfs-minimal-1.0.0'], dir, root), [join(dir, 'vexfs-minimal-1.0.0.qcow2')]);
  assert.deepEqual(resolveImagePaths(['images/sub/vexfs-x-1.qcow2'], dir, root), [join(dir, 'sub/vexfs-x-1.qcow2')]);
  assert.throws(() => resolveImagePaths(['nope.qcow2'], dir, root), { name: 'UsageError', message: /image not found: nope\.qcow2/ });
});

test('errors: missing directory, empty directory', async () => {
  const { root } = await imagesDir();
  assert.throws(() => resolveImagePaths([], join(root, 'missing')), /does not exist/);
  await mkdir(join(root, 'empty'));
  assert.throws(() => resolveImagePaths([], join(root, 'empty')), /no \*\.qcow2 images/);
});

test('identity from the file name', () => {
  assert.deepEqual(identityFromName('vexfs-production-1.0.0'), { variant: 'production', version: '1.0.0' });
  assert.deepEqual(identityFromName('vexfs-my-variant-2.1.0-rc1'), { variant: 'my-variant', version: '2.1.0-rc1' });
  assert.equal(identityFromName('debian-13-base'), undefined);
});

test('identity from the manifest beats the file name; overrides beat both', async () => {
  const { dir } = await imagesDir();
  const img = join(dir, 'vexfs-minimal-1.0.0.qcow2');
  assert.equal(identifyImage(img).identitySource, 'filename');
  await writeFile(join(dir, 'vexfs-minimal-1.0.0.json'), JSON.stringify({ variant: 'minimal', version: '1.0.0-1', files: { image: { name: 'vexfs-minimal-1.0.0.qcow2', sha256: 'ab'.repeat(32) } } }));
  const t = identifyImage(img);
  assert.deepEqual([t.variant, t.version, t.identitySource, t.manifestSha256], ['minimal', '1.0.0-1', 'manifest', 'ab'.repeat(32)]);
  assert.equal(identifyImage(img, { version: '9' }).version, '9');
  const base = join(dir, 'debian.qcow2');
  await writeFile(base, '');
  assert.deepEqual([identifyImage(base).variant, identifyImage(base).identitySource], ['unknown', 'unknown']);
});

test('seed: new instance-id, one user with the key and sudo, sshd settings untouched', () => {
  const a = validationSeed('ssh-ed25519 AAAA test');
  const b = validationSeed('ssh-ed25519 AAAA test');
  assert.notEqual(a.metaData['instance-id'], b.metaData['instance-id']);
  const users = a.userData.users as Array<Record<string, unknown>>;
  assert.equal(users.length, 1);
  assert.equal(users[0]!.name, VALIDATION_USER);
  assert.deepEqual(users[0]!.ssh_authorized_keys, ['ssh-ed25519 AAAA test']);
  assert.equal(users[0]!.sudo, 'ALL=(ALL) NOPASSWD:ALL');
  assert.equal('ssh_pwauth' in a.userData, false);
  assert.equal('disable_root' in a.userData, false);
});

test('seed for production: the same, and it asks for password login (the hardening must win over it)', () => {
  const s = validationSeed('ssh-ed25519 AAAA test', { hostile: true });
  assert.equal(s.userData.ssh_pwauth, true);
  assert.equal((s.userData.users as unknown[]).length, 1);
  assert.ok(HOSTILE_SEED_VARIANTS.has('production') && !HOSTILE_SEED_VARIANTS.has('minimal'));
});

test("cloud-init's result.json: done, degraded, error", () => {
  assert.deepEqual(parseCloudInitResult('{"v1": {"datasource": "DataSourceNoCloud", "errors": []}}'), { status: 'done' });
  assert.deepEqual(parseCloudInitResult('{"v1": {"errors": [], "recoverable_errors": {"WARNING": ["bad thing"]}}}'), { status: 'degraded', detail: 'WARNING: bad thing' });
  assert.deepEqual(parseCloudInitResult('{"v1": {"errors": ["boom"]}}'), { status: 'error', detail: 'boom' });
  assert.equal(parseCloudInitResult('{}').status, 'unknown');
});
