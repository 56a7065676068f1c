// The example VexFS tree's Makefile: layout, version plumbing, install/DESTDIR, clean.
// Needs only make (no kernel headers, no cargo): the kernel build dir is faked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../../helpers/fs.js';

const TREE = resolve(import.meta.dirname, '../../../examples/vexfs');

/** A copy of the tree's sources (no build products) in a fresh directory. */
function copyTree(): string {
  const dir = join(tempDir('vexfs-tree-make-'), 'vexfs');
  cpSync(TREE, dir, {
    recursive: true,
    filter: (src) => !/[/\\]target([/\\]|$)/.test(src.slice(TREE.length)),
  });
  return dir;
}

function make(dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync('make', ['--no-print-directory', '-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, MAKEFLAGS: '', ...env },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A fake kernel build directory whose Makefile reports what it was given. */
function fakeKdir(release = '6.99.0-fake'): string {
  const kdir = tempDir('vexfs-fake-kdir-');
  mkdirSync(join(kdir, 'include/config'), { recursive: true });
  writeFileSync(join(kdir, 'include/config/kernel.release'), `${release}\n`);
  writeFileSync(
    join(kdir, 'Makefile'),
    'VERSION = 6\nmodules:\n\t@echo "kernel VERSION=$(VERSION) VEXFS_VERSION=$(VEXFS_VERSION) M=$(M)"\n',
  );
  return kdir;
}

test('the tree has the layout the pipeline expects', () => {
  for (const f of ['Makefile', 'Kbuild', 'VERSION', 'vexfs.c', 'Cargo.toml', 'Cargo.lock', 'vexctl/Cargo.toml', 'vexctl/src/main.rs', 'README.md']) {
    assert.ok(existsSync(join(TREE, f)), `examples/vexfs/${f} missing`);
  }
  assert.match(readFileSync(join(TREE, 'Makefile'), 'utf8'), /^vm-build\s*:/m);
  assert.match(readFileSync(join(TREE, 'Makefile'), 'utf8'), /^KDIR \?= \/lib\/modules\/\$\(shell uname -r\)\/build$/m);
  const c = readFileSync(join(TREE, 'vexfs.c'), 'utf8');
  assert.match(c, /MODULE_LICENSE\("GPL"\)/);
  assert.match(c, /MODULE_VERSION\(VEXFS_VERSION\)/);
  assert.match(c, /\.name = "vexfs"/);
});

test('VERSION, the vexctl crate version and Cargo.lock agree; the lock file stays format 3 for Debian 12 cargo', () => {
  const version = readFileSync(join(TREE, 'VERSION'), 'utf8').trim();
  const crate = readFileSync(join(TREE, 'vexctl/Cargo.toml'), 'utf8');
  assert.match(crate, new RegExp(`^version = "${version.replace(/\./g, '\\.')}"$`, 'm'));
  assert.match(crate, /^edition = "2021"$/m);
  assert.match(crate, /^\[dependencies\]\s*$/m);
  assert.doesNotMatch(crate, /^\[dependencies\]\s*\n\s*\w+\s*=/m, 'vexctl must stay std-only');
  const lock = readFileSync(join(TREE, 'Cargo.lock'), 'utf8');
  assert.match(lock, /^version = 3$/m);
  assert.equal(lock.match(/\[\[package\]\]/g)?.length, 1, 'Cargo.lock must hold vexctl only');
  assert.match(lock, new RegExp(`name = "vexctl"\\nversion = "${version.replace(/\./g, '\\.')}"`));
});

test('make module passes VERSION to the module without clobbering the kernel Makefile\'s own VERSION', () => {
  const dir = copyTree();
  const kdir = fakeKdir();
  const r = make(dir, ['module', `KDIR=${kdir}`, 'VERSION=7.7.7-unit']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`kernel VERSION=6 VEXFS_VERSION=7\\.7\\.7-unit M=${dir}$`, 'm'));
  // Without VERSION=, the VERSION file is used.
  const d = make(dir, ['module', `KDIR=${kdir}`]);
  assert.equal(d.code, 0, d.out);
  const fileVersion = readFileSync(join(TREE, 'VERSION'), 'utf8').trim();
  assert.match(d.out, new RegExp(`kernel VERSION=6 VEXFS_VERSION=${fileVersion.replace(/\./g, '\\.')} `));
});

test('make vm-build runs the module and vexctl builds; bad VERSION and missing KDIR are refused', () => {
  const dir = copyTree();
  const kdir = fakeKdir();
  const n = make(dir, ['-n', 'vm-build', `KDIR=${kdir}`, 'VERSION=1.2.3']);
  assert.equal(n.code, 0, n.out);
  assert.match(n.out, /VEXFS_VERSION='1\.2\.3' modules/);
  assert.match(n.out, /VEXCTL_VERSION='1\.2\.3'.*cargo build --release --offline -p vexctl/s);

  const bad = make(dir, ['module', `KDIR=${kdir}`, 'VERSION=1.0 beta']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.out, /VERSION must match/);

  const noKdir = make(dir, ['module', 'KDIR=/nonexistent/kernel/build']);
  assert.notEqual(noKdir.code, 0);
  assert.match(noKdir.out, /kernel build directory \/nonexistent\/kernel\/build not found/);
});

test('make install honours DESTDIR, PREFIX and the kernel release of KDIR; uninstall removes it', () => {
  const dir = copyTree();
  const dest = tempDir('vexfs-destdir-');
  const targetDir = join(dir, 'target');

  const before = make(dir, ['install', `DESTDIR=${dest}`, 'KVER=6.1.0-test']);
  assert.notEqual(before.code, 0, 'install without built artifacts must fail');
  assert.match(before.out, /run make vm-build first/);

  // Stand-ins for the build products.
  writeFileSync(join(dir, 'vexfs.ko'), 'fake module');
  mkdirSync(join(targetDir, 'release'), { recursive: true });
  writeFileSync(join(targetDir, 'release/vexctl'), '#!/bin/sh\necho vexctl\n');
  chmodSync(join(targetDir, 'release/vexctl'), 0o755);

  const r = make(dir, ['install', `DESTDIR=${dest}`, 'KVER=6.1.0-test']);
  assert.equal(r.code, 0, r.out);
  const ko = join(dest, 'lib/modules/6.1.0-test/extra/vexfs/vexfs.ko');
  const bin = join(dest, 'usr/local/bin/vexctl');
  assert.equal(readFileSync(ko, 'utf8'), 'fake module');
  assert.equal(statSync(ko).mode & 0o777, 0o644);
  assert.equal(statSync(bin).mode & 0o777, 0o755);
  assert.doesNotMatch(r.out, /depmod/, 'depmod must not run for a DESTDIR install');

  // PREFIX, and KVER taken from KDIR's kernel.release.
  const dest2 = tempDir('vexfs-destdir-');
  const r2 = make(dir, ['install', `DESTDIR=${dest2}`, 'PREFIX=/usr', `KDIR=${fakeKdir('6.12.0-fromkdir')}`]);
  assert.equal(r2.code, 0, r2.out);
  assert.ok(existsSync(join(dest2, 'lib/modules/6.12.0-fromkdir/extra/vexfs/vexfs.ko')), r2.out);
  assert.ok(existsSync(join(dest2, 'usr/bin/vexctl')), r2.out);

  const u = make(dir, ['uninstall', `DESTDIR=${dest}`, 'KVER=6.1.0-test']);
  assert.equal(u.code, 0, u.out);
  assert.ok(!existsSync(ko));
  assert.ok(!existsSync(bin));
});

test('make clean removes build products and keeps the sources, without kernel headers or cargo', () => {
  const dir = copyTree();
  const products = ['vexfs.o', 'vexfs.ko', 'vexfs.mod', 'vexfs.mod.c', 'vexfs.mod.o', '.vexfs.o.cmd', '.module-common.o', 'modules.order', 'Module.symvers'];
  for (const p of products) writeFileSync(join(dir, p), 'x');
  mkdirSync(join(dir, 'target/release'), { recursive: true });
  writeFileSync(join(dir, 'target/release/vexctl'), 'x');

  const r = make(dir, ['clean', 'KDIR=/nonexistent'], { PATH: '/usr/bin:/bin' });
  assert.equal(r.code, 0, r.out);
  for (const p of products) assert.ok(!existsSync(join(dir, p)), `${p} not removed`);
  assert.ok(!existsSync(join(dir, 'target')), 'target/ not removed');
  for (const f of ['Makefile', 'Kbuild', 'VERSION', 'vexfs.c', 'Cargo.toml', 'Cargo.lock', 'vexctl/src/main.rs', 'vexctl/src/status.rs']) {
    assert.ok(existsSync(join(dir, f)), `${f} was removed by clean`);
  }
});
