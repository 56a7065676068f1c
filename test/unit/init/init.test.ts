import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cargoBins, filesystemName, makeTargets, objMModules, scanTree } from '../../../src/init/scan.js';
import { guessBuild } from '../../../src/init/render.js';
import { initConfig } from '../../../src/cli/commands/init.js';
import { loadConfig } from '../../../src/config/load.js';
import { UsageError } from '../../../src/errors.js';
import { EXAMPLE_SOURCE, PACKAGE_ROOT } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';

test('obj-m lines, file_system_type names, Makefile targets and Cargo bins are read', () => {
  assert.deepEqual(objMModules('obj-m := a.o\nobj-m += b.o \\\n  c.o # d.o\nobj-y := e.o\nobj-$(CONFIG_X) += f.o\n'), ['a', 'b', 'c']);
  assert.equal(filesystemName('static struct file_system_type t = {\n\t.owner = THIS_MODULE,\n\t.name = "scratch",\n};'), 'scratch');
  assert.equal(filesystemName('int main(void) { return 0; }'), undefined);
  assert.deepEqual(makeTargets('X := 1\n.PHONY: all\nall: modules\nmodules install:\n\t$(MAKE)\n%.o: %.c\nY ?= 2\nclean::\n'), ['all', 'modules', 'install', 'clean']);
  const dir = tempDir();
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'src', 'main.rs'), '');
  assert.deepEqual(cargoBins('[package]\nname = "tool"\n', dir), ['tool']);
  assert.deepEqual(cargoBins('[package]\nname = "lib"\n[[bin]]\nname = "x"\n[[bin]]\nname = "y"\n', dir), ['x', 'y']);
  assert.deepEqual(cargoBins('not toml [', dir), []);
});

test('the example tree: vexfs in the root with its filesystem, vm-build, the vexctl bin', () => {
  const s = scanTree(EXAMPLE_SOURCE);
  assert.deepEqual(s.modules, [{ name: 'vexfs', dir: '.', from: 'Kbuild', filesystem: 'vexfs' }]);
  assert.ok(s.makeTargets.includes('vm-build'));
  assert.deepEqual(s.bins.map((b) => b.name), ['vexctl']);
  assert.equal(guessBuild(s).command, 'make vm-build');
});

test('init on the fixture writes a config that loads as the payload to build, and never overwrites it', () => {
  const dir = join(tempDir(), 'tree');
  cpSync(join(PACKAGE_ROOT, 'test', 'fixtures', 'scratchfs-tree'), dir, { recursive: true });
  const r = initConfig(dir);
  assert.deepEqual(r.modules, ['scratchfs']);
  const p = loadConfig({ source: dir }).payload;
  assert.equal(p.buildCommand, 'make modules');
  assert.deepEqual(p.modules, [{ name: 'scratchfs', path: 'kernel_module/scratchfs.ko', installDir: 'extra/scratchfs', filesystem: 'scratch' }]);
  assert.match(r.text, /# found: obj-m in kernel_module\/Kbuild/);
  assert.match(r.text, /# guessed: the root Makefile's "modules" target/);
  const before = readFileSync(r.path, 'utf8');
  assert.throws(() => initConfig(dir), (e: unknown) => e instanceof UsageError && /already exists: init never overwrites/.test(e.message));
  assert.equal(readFileSync(r.path, 'utf8'), before);
});

test('init with only a Kbuild in a subdirectory: the kernel\'s module build there; tools commented out', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'drv'));
  writeFileSync(join(dir, 'drv', 'Kbuild'), 'obj-m := mydrv.o\n');
  mkdirSync(join(dir, 'cli', 'src'), { recursive: true });
  writeFileSync(join(dir, 'cli', 'Cargo.toml'), '[package]\nname = "mycli"\n');
  writeFileSync(join(dir, 'cli', 'src', 'main.rs'), 'fn main() {}\n');
  writeFileSync(join(dir, 'VERSION'), '4.5.6\n');
  const r = initConfig(dir);
  const cfg = loadConfig({ source: dir });
  assert.equal(cfg.file.version, '4.5.6');
  assert.equal(cfg.payload.buildDirectory, 'drv');
  assert.equal(cfg.payload.buildCommand, 'make -C "$KDIR" M="$PWD" modules');
  assert.deepEqual(cfg.payload.modules.map((m) => [m.name, m.path]), [['mydrv', 'mydrv.ko']]);
  assert.deepEqual(cfg.payload.tools, []);
  assert.match(r.text, /^ {2}# {3}- name: "mycli" {3}# found: cli\/Cargo\.toml$/m);
  assert.throws(() => initConfig(join(dir, 'nope')), (e: unknown) => e instanceof UsageError && /does not exist/.test(e.message));
});
