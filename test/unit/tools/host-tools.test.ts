import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { checkHostTools, HOST_TOOLS, missingPackages, which, type ToolStatus } from '../../../src/tools/host-tools.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

describe('which', () => {
  test('finds an executable in PATH, first match wins; skips non-executables', () => {
    const a = tempDir();
    const b = tempDir();
    const c = tempDir();
    fakeBin(b, 'vexfs-tool', 'exit 0');
    const p = fakeBin(a, 'vexfs-tool', 'exit 0');
    assert.equal(which('vexfs-tool', `${a}:${b}`), p);
    chmodSync(fakeBin(c, 'vexfs-tool', 'exit 0'), 0o644);
    assert.equal(which('vexfs-tool', `${c}:${b}`), join(b, 'vexfs-tool'));
    assert.equal(which('vexfs-not-there', `${a}:${b}`), undefined);
  });
  test('also looks in the sbin directories when PATH lacks them (mke2fs, sfdisk)', () => {
    assert.equal(which('mke2fs', '/nonexistent'), '/usr/sbin/mke2fs');
  });
});

test('HOST_TOOLS: every tool names its Debian package and purpose', () => {
  for (const t of HOST_TOOLS) {
    assert.match(t.debPackage, /^[a-z0-9][a-z0-9+.-]+$/, t.name);
    assert.ok(t.purpose.length > 5, t.name);
  }
  assert.deepEqual(
    ['qemu-system-x86_64', 'qemu-img', 'cloud-localds', 'ssh', 'ssh-keygen'].filter((n) => !HOST_TOOLS.some((t) => t.name === n)),
    [],
  );
});

test('checkHostTools: found with its version line, missing with its package', { timeout: 20_000 }, async () => {
  const dir = tempDir();
  fakeBin(dir, 'vexfs-fake-tool', 'echo "usage: blah" >&2; echo "fake tool version 3.14.1 (test)" >&2');
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved}`;
  try {
    const r = await checkHostTools([
      { name: 'vexfs-fake-tool', debPackage: 'fake-pkg', versionArgs: ['--version'], purpose: 'testing' },
      { name: 'vexfs-absent-tool', debPackage: 'absent-pkg', purpose: 'testing' },
    ]);
    assert.deepEqual(r[0], { name: 'vexfs-fake-tool', found: true, path: join(dir, 'vexfs-fake-tool'), version: 'fake tool version 3.14.1 (test)', debPackage: 'fake-pkg', purpose: 'testing' });
    assert.deepEqual(r[1], { name: 'vexfs-absent-tool', found: false, debPackage: 'absent-pkg', purpose: 'testing' });
  } finally {
    process.env.PATH = saved;
  }
});

test('missingPackages: unique, sorted, only for missing tools', () => {
  const s = (name: string, found: boolean, debPackage: string): ToolStatus => ({ name, found, debPackage, purpose: '' });
  assert.deepEqual(
    missingPackages([s('ssh', false, 'openssh-client'), s('ssh-keygen', false, 'openssh-client'), s('qemu-img', true, 'qemu-utils'), s('cloud-localds', false, 'cloud-image-utils')]),
    ['cloud-image-utils', 'openssh-client'],
  );
  assert.deepEqual(missingPackages([s('qemu-img', true, 'qemu-utils')]), []);
});
