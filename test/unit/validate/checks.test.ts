import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_DIR } from '../../../src/paths.js';
import { parseConfigText } from '../../../src/config/load.js';
import { checksForVariant, loadBuiltinChecks, mergeChecks, parseChecks } from '../../../src/validate/checks.js';
import { compileCheck } from '../../../src/validate/compile.js';

const builtin = loadBuiltinChecks();
const byId = (id: string) => builtin.find((c) => c.id === id);

test('the built-in list parses and compiles for every variant', () => {
  assert.ok(builtin.length >= 25);
  for (const variant of ['minimal', 'development', 'production']) {
    for (const c of checksForVariant(builtin, variant)) compileCheck(c, { version: '1.0.0', variant, name: `vexfs-${variant}-1.0.0`, arch: 'arm64', taint_baseline: '0' });
  }
});

test("the built-in list covers the spec's checks with the spec's severities", () => {
  const expected: Array<[string, 'error' | 'warning', RegExp]> = [
    ['module-info', 'error', /modinfo/],
    ['module-load', 'error', /modprobe/],
    ['module-listed', 'error', /lsmod/],
    ['vexctl-version', 'error', /vexctl --version/],
    ['vexctl-status', 'warning', /vexctl status/],
    ['vexfs-conf', 'error', /\/etc\/vexfs\/vexfs\.conf/],
    ['vexfs-service-enabled', 'warning', /vexfs\.service/],
    ['module-unload', 'error', /rmmod/],
    ['mount-helper', 'error', /vexfs-mount-helper/],
    ['umount-helper', 'error', /vexfs-umount-helper/],
    ['vexfs-log', 'warning', /\/var\/log\/vexfs\.log/],
    ['modules-load-conf', 'error', /modules-load\.d\/vexfs\.conf/],
    ['uname', 'error', /uname -a/],
  ];
  for (const [id, severity, what] of expected) {
    const c = byId(id);
    assert.ok(c, `missing ${id}`);
    assert.equal(c.severity, severity, id);
    assert.match(`${c.description} ${JSON.stringify(c)}`, what, id);
    assert.equal(c.variants, undefined, `${id} applies to every variant`);
  }
  // Order: unload after everything that needs the module, the kernel log last.
  const ids = builtin.map((c) => c.id);
  assert.ok(ids.indexOf('module-unload') > ids.indexOf('mount-rw'));
  assert.ok(ids.indexOf('module-unload') > ids.indexOf('vexctl-status'));
  assert.equal(ids.at(-1), 'kernel-log');
});

test('production-only checks mirror the hardening files the build installs', () => {
  const sysctl = byId('hardening-sysctls');
  assert.ok(sysctl && sysctl.type === 'sysctl');
  assert.deepEqual(sysctl.variants, ['production']);
  const conf = readFileSync(join(GUEST_DIR, 'hardening', 'sysctl.conf'), 'utf8');
  const want = Object.fromEntries(
    conf
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.split('=').map((s) => s.trim()) as [string, string]),
  );
  assert.deepEqual(sysctl.values, want);
  const sshd = readFileSync(join(GUEST_DIR, 'hardening', 'sshd.conf'), 'utf8');
  assert.match(sshd, /^PasswordAuthentication no$/m);
  assert.match(sshd, /^PermitRootLogin no$/m);
  for (const id of ['sshd-no-password-login', 'sshd-no-root-login', 'toolchain-absent']) assert.deepEqual(byId(id)?.variants, ['production'], id);
  assert.equal(checksForVariant(builtin, 'minimal').some((c) => c.id === 'hardening-sysctls'), false);
});

test('consistency: duplicate ids, forward and unknown needs are rejected', () => {
  assert.throws(() => parseChecks('- { id: a, type: command, command: x }\n- { id: a, type: command, command: y }', 'f'), /duplicate check id "a"/);
  assert.throws(() => parseChecks('- { id: a, type: command, command: x, needs: [b] }\n- { id: b, type: command, command: y }', 'f'), /needs "b", which comes later/);
  assert.throws(() => parseChecks('- { id: a, type: command, command: x, needs: [zz] }', 'f'), /needs "zz", which does not exist/);
});

test('schema: type-specific fields are required and unknown keys rejected', () => {
  assert.throws(() => parseChecks('- { id: a, type: command }', 'f'), /command/);
  assert.throws(() => parseChecks('- { id: a, type: file, path: /x, comand: typo }', 'f'), /comand/);
  assert.throws(() => parseChecks('- { id: a, type: service, unit: x.service, expect: {} }', 'f'), /expect.enabled and\/or expect.active/);
  assert.throws(() => parseChecks('- { id: a, type: frobnicate }', 'f'), /invalid check list/);
  assert.throws(() => parseChecks('- { id: A B, type: command, command: x }', 'f'), /id/);
  const [c] = parseChecks('- { id: a, type: command, command: x }', 'f');
  assert.deepEqual({ severity: c!.severity, sudo: c!.sudo, needs: c!.needs, group: c!.group }, { severity: 'error', sudo: true, needs: [], group: 'custom' });
});

test('merge: a user check with a built-in id replaces it in place, others are appended', () => {
  const user = parseChecks(
    `- { id: vexfs-log, type: file, path: /var/log/vexfs.log, severity: error }
- { id: my-check, type: command, command: 'test -d /srv/vexfs', needs: [module-load] }`,
    'user',
    { standalone: false },
  );
  const merged = mergeChecks(builtin, user);
  assert.equal(merged.length, builtin.length + 1);
  assert.equal(merged.find((c) => c.id === 'vexfs-log')!.severity, 'error');
  assert.equal(merged.findIndex((c) => c.id === 'vexfs-log'), builtin.findIndex((c) => c.id === 'vexfs-log'));
  assert.equal(merged.at(-1)!.id, 'my-check');
  // Needs are checked on the merged list.
  const orphan = parseChecks(`- { id: o, type: command, command: x, needs: [nothing] }`, 'user', { standalone: false });
  assert.throws(() => mergeChecks(builtin, orphan), /check o needs "nothing", which does not exist/);
});

test('checks in vexfs-image.yaml go through the same schema', () => {
  const cfg = parseConfigText('checks:\n  - { id: extra, type: sysctl, values: { vm.swappiness: 10 }, variants: [production] }\n', 'vexfs-image.yaml');
  assert.equal(cfg.checks?.[0]?.type, 'sysctl');
  assert.throws(() => parseConfigText('checks:\n  - { id: extra, type: sysctl }\n', 'vexfs-image.yaml'), /values/);
});

test('a --checks file may be a bare list or a mapping with checks:', () => {
  assert.equal(parseChecks('checks:\n  - { id: a, type: command, command: x }\n', 'f').length, 1);
  assert.equal(parseChecks('', 'f').length, 0);
});

test('image-identity: the image\'s own record must name the variant and version it is validated as', () => {
  const c = compileCheck(byId('image-identity')!, { variant: 'production', version: '1.0.0', name: 'vexfs-production-1.0.0' });
  assert.equal(c.evaluate({ exitCode: 0, stdout: 'production 1.0.0\n', stderr: '' }).ok, true);
  // A production image whose sidecar says minimal is validated as minimal, and fails here.
  const asMinimal = compileCheck(byId('image-identity')!, { variant: 'minimal', version: '1.0.0', name: 'vexfs-minimal-1.0.0' });
  const v = asMinimal.evaluate({ exitCode: 0, stdout: 'production 1.0.0\n', stderr: '' });
  assert.equal(v.ok, false);
  assert.match(v.message, /production 1\.0\.0/);
  assert.equal(c.evaluate({ exitCode: 1, stdout: '', stderr: 'No such file or directory' }).ok, false);
  assert.ok(checksForVariant(builtin, 'minimal').some((x) => x.id === 'image-identity'));
});

test('production only: the hostile seed reached sshd, and password login is still off', () => {
  const applied = compileCheck(byId('sshd-password-seed-applied')!, { variant: 'production', version: '1', name: 'x' });
  assert.equal(applied.evaluate({ exitCode: 0, stdout: 'PasswordAuthentication yes\n', stderr: '' }).ok, true);
  assert.equal(applied.evaluate({ exitCode: 1, stdout: '', stderr: '' }).ok, false);
  assert.deepEqual(byId('sshd-password-seed-applied')!.variants, ['production']);
});
