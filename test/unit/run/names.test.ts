// Instance and user names: what becomes a directory, a host name and a login.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkInstanceName, checkUserName, hostnameFor, instanceNameFor } from '../../../src/run/names.js';
import { exitCodeFor } from '../../../src/cli/exit-codes.js';

describe('checkInstanceName', () => {
  for (const ok of ['vexfs-minimal-1.0.0', 'dev', 't-123', 'A_b.c', '0', 'x'.repeat(63)]) {
    test(`accepts ${ok.slice(0, 20)}`, () => assert.equal(checkInstanceName(ok), ok));
  }
  for (const bad of ['', 'a/b', '..', 'a..b', 'a b', '$(x)', 'a;b', '`x`', '-x', '.hidden', 'x'.repeat(64), 'a\nb', 'é']) {
    test(`rejects ${JSON.stringify(bad)} as a usage error naming the flag`, () => {
      assert.throws(() => checkInstanceName(bad), (e: unknown) => {
        assert.equal(exitCodeFor(e), 2);
        assert.ok((e as Error).message.startsWith(`invalid instance name ${JSON.stringify(bad)} (from --name): `), (e as Error).message);
        return true;
      });
    });
  }
});

test('instanceNameFor: the file name without its extension, made valid', () => {
  assert.equal(instanceNameFor('/x/images/vexfs-minimal-1.0.0.qcow2'), 'vexfs-minimal-1.0.0');
  assert.equal(instanceNameFor('base.qcow2'), 'base');
  assert.equal(instanceNameFor('/x/disk.img'), 'disk');
  assert.equal(instanceNameFor('/x/My Image (copy).raw'), 'My-Image-copy-');
  assert.equal(instanceNameFor('/x/..odd..name.qcow2'), 'odd.name');
  assert.equal(instanceNameFor('/x/$$$.qcow2'), 'vm');
  assert.equal(instanceNameFor(`/x/${'a'.repeat(100)}.qcow2`).length, 63);
  for (const p of ['/x/vexfs-minimal-1.0.0.qcow2', '/x/My Image (copy).raw', '/x/..odd..name.qcow2', '/x/$$$.qcow2']) checkInstanceName(instanceNameFor(p));
});

test('checkUserName: a Linux login name, never root', () => {
  assert.equal(checkUserName('vexfs'), 'vexfs');
  assert.equal(checkUserName('_svc-1'), '_svc-1');
  for (const bad of ['root', 'Vexfs', '1user', 'a b', 'a;b', '', 'x'.repeat(33)]) {
    assert.throws(() => checkUserName(bad), /invalid user name .* \(from --user\)/, bad);
  }
});

test('hostnameFor: an RFC 1123 label', () => {
  assert.equal(hostnameFor('vexfs-minimal-1.0.0'), 'vexfs-minimal-1-0-0');
  assert.equal(hostnameFor('Dev_Box'), 'dev-box');
  assert.equal(hostnameFor('___'), 'vexfs-run');
  assert.equal(hostnameFor('x'.repeat(62) + '.y'), `${'x'.repeat(62)}`);
});
