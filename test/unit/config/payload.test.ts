import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE_NAME, loadConfig, resolveBuildPlan } from '../../../src/config/load.js';
import { DEFAULT_PAYLOAD, resolvePayload } from '../../../src/config/payload.js';
import { UsageError } from '../../../src/errors.js';
import { EXAMPLE_SOURCE } from '../../../src/paths.js';
import { checksForVariant, loadBuiltinChecks } from '../../../src/validate/checks.js';
import { tempDir } from '../../helpers/fs.js';

function tree(yaml?: string): string {
  const dir = tempDir();
  mkdirSync(join(dir, 'kernel_module'));
  writeFileSync(join(dir, 'kernel_module', 'Kbuild'), 'obj-m := scratchfs.o\n');
  if (yaml !== undefined) writeFileSync(join(dir, CONFIG_FILE_NAME), yaml);
  return dir;
}

const usage = (re: RegExp) => (e: unknown): boolean => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n');

test('no config: the example builds the VexFS payload, and its checks are the built-in list', () => {
  const cfg = loadConfig({ source: EXAMPLE_SOURCE });
  assert.equal(cfg.payload.buildCommand, 'make vm-build');
  assert.equal(cfg.payload.buildDirectory, '.');
  assert.deepEqual(cfg.payload.modules.map((m) => [m.name, m.installDir, m.filesystem]), [['vexfs', 'extra/vexfs', 'vexfs']]);
  assert.deepEqual(cfg.payload.tools.map((t) => [t.name, t.installPath]), [['vexctl', '/usr/local/bin/vexctl']]);
  assert.deepEqual(cfg.payload.services, ['vexfs.service']);
  assert.deepEqual(
    cfg.payload.files.map((f) => f.path),
    ['/etc/vexfs/vexfs.conf', '/etc/systemd/system/vexfs.service', '/usr/local/bin/vexfs-mount-helper', '/usr/local/bin/vexfs-umount-helper', '/var/log/vexfs.log', '/etc/modules-load.d/vexfs.conf'],
  );
  assert.deepEqual(cfg.baseChecks.map((c) => c.id), loadBuiltinChecks().map((c) => c.id));
  assert.equal(checksForVariant(cfg.baseChecks, 'minimal').length, 24);
  assert.equal(checksForVariant(cfg.baseChecks, 'production').length, 29);
});

test('a declared module starts from nothing: no vexctl, no VexFS files or service, derived checks only', () => {
  const dir = tree('payload:\n  build: { directory: kernel_module, command: make -C "$KDIR" M="$PWD" modules, env: { X: "1" } }\n  modules:\n    - { name: scratchfs, filesystem: scratch }\n');
  const cfg = loadConfig({ source: dir });
  const p = cfg.payload;
  assert.equal(p.buildDirectory, 'kernel_module');
  assert.equal(p.buildCommand, 'make -C "$KDIR" M="$PWD" modules');
  assert.deepEqual(p.env, { X: '1' });
  assert.deepEqual(p.modules, [{ name: 'scratchfs', path: '**/scratchfs.ko', installDir: 'extra/scratchfs', filesystem: 'scratch' }]);
  assert.deepEqual([p.tools, p.files, p.services], [[], [], []]);
  const ids = checksForVariant(cfg.baseChecks, 'minimal').map((c) => c.id);
  assert.deepEqual(ids, ['module-info', 'module-load', 'module-listed', 'proc-filesystems', 'mount-rw', 'uname', 'image-identity', 'image-architecture', 'cloud-init-ok', 'systemd-failed', 'machine-id-fresh', 'ssh-host-keys-fresh', 'module-unload', 'kernel-log']);
  const mount = cfg.baseChecks.find((c) => c.id === 'mount-rw');
  assert.equal(mount?.type === 'mount' && mount.fstype, 'scratch');
  const fs = cfg.baseChecks.find((c) => c.id === 'proc-filesystems');
  assert.equal(fs?.type === 'command' && fs.expect.stdout_matches, '^nodev\\s+scratch$');
  assert.equal(cfg.baseChecks.find((c) => c.id === 'module-info')?.group, 'scratchfs');
});

test('two modules get suffixed ids, unload in reverse order; tools, files and services derive their checks', () => {
  const dir = tree('payload:\n  modules: [{ name: a }, { name: b, filesystem: bfs }]\n  tools:\n    - { name: actl, version: { command: actl -V, expect: "actl v{{version}} (x.y)" } }\n    - { name: opt, required: false, version: { command: opt --version, expect: opt } }\n  files:\n    /etc/a/a.conf: { content: "x={{version}}\\n", template: true }\n    /usr/sbin/a-helper: { content: "#!/bin/sh\\n", mode: "0755" }\n    /etc/systemd/system/a.service: { content: "[Unit]\\n", check: false }\n  services: [a.service]\n');
  const cfg = loadConfig({ source: dir });
  const ids = checksForVariant(cfg.baseChecks, 'minimal').map((c) => c.id);
  assert.deepEqual(ids.slice(0, 14), ['module-info-a', 'module-load-a', 'module-listed-a', 'module-info-b', 'module-load-b', 'module-listed-b', 'proc-filesystems', 'actl-version', 'opt-version', 'file-a.conf', 'a-service-enabled', 'a-service-active', 'mount-rw', 'file-a-helper']);
  assert.deepEqual(ids.slice(-3), ['module-unload-b', 'module-unload-a', 'kernel-log']);
  const byId = new Map(cfg.baseChecks.map((c) => [c.id, c]));
  const v = byId.get('actl-version')!;
  assert.equal(v.type === 'command' && v.expect.stdout_matches, '^actl v{{version}} \\(x\\.y\\)$');
  assert.equal(byId.get('opt-version')!.severity, 'warning');
  const helper = byId.get('file-a-helper')!;
  assert.equal(helper.type === 'file' && helper.expect.executable, true);
  assert.deepEqual(byId.get('proc-filesystems')!.needs, ['module-load-b']);
  assert.equal(byId.get('a-service-enabled')!.severity, 'warning');
});

test('the VexFS defaults can be replaced or dropped one by one', () => {
  const dir = tree('payload:\n  files:\n    /usr/local/bin/vexfs-umount-helper: null\n    /etc/vexfs/vexfs.conf: { from: my.conf.tmpl }\n');
  writeFileSync(join(dir, 'my.conf.tmpl'), 'v={{version}}\n');
  const cfg = loadConfig({ source: dir });
  const files = new Map(cfg.payload.files.map((f) => [f.path, f]));
  assert.ok(!files.has('/usr/local/bin/vexfs-umount-helper'));
  const conf = files.get('/etc/vexfs/vexfs.conf')!;
  assert.equal(conf.from, join(dir, 'my.conf.tmpl'));
  assert.equal(conf.template, true);
  assert.equal(conf.check && conf.check.id, 'vexfs-conf', 'a replaced file keeps its check id');
  const ids = cfg.baseChecks.map((c) => c.id);
  assert.ok(!ids.includes('umount-helper') && !ids.includes('vexfs-conf-version'), ids.join(' '));
  assert.ok(ids.includes('vexctl-version') && ids.includes('vexfs-service-active'));
});

test('flags: --build-command, --build-subdir and --module win over the file', () => {
  const dir = tree('payload:\n  build: { command: make all }\n  modules: [{ name: scratchfs, path: kernel_module/scratchfs.ko }]\n');
  const plan = resolveBuildPlan({ source: dir, payload: { buildCommand: 'make modules', buildSubdir: 'kernel_module/', modules: ['scratchfs', 'other'] } }, {});
  assert.equal(plan.payload.buildCommand, 'make modules');
  assert.equal(plan.buildCommand, 'make modules');
  assert.equal(plan.payload.buildDirectory, 'kernel_module');
  assert.deepEqual(plan.payload.modules.map((m) => [m.name, m.path]), [['scratchfs', 'kernel_module/scratchfs.ko'], ['other', '**/other.ko']]);
  // The legacy top-level build_command still works, below payload.build.command.
  assert.equal(loadConfig({ source: tree('build_command: make legacy\n') }).payload.buildCommand, 'make legacy');
  assert.equal(loadConfig({ source: tree('build_command: make legacy\npayload: { build: { command: make new } }\n') }).payload.buildCommand, 'make new');
});

test('bad payloads are one-sentence usage errors', () => {
  const dir = tree();
  const outside = tempDir();
  symlinkSync(outside, join(dir, 'escape'));
  const cases: Array<[Parameters<typeof resolvePayload>[1], Parameters<typeof resolvePayload>[3], RegExp]> = [
    [undefined, { modules: ['a/b'] }, /invalid module name "a\/b" \(from --module\)/],
    [undefined, { buildSubdir: '../x' }, /--build-subdir "\.\.\/x" is outside the source tree/],
    [undefined, { buildSubdir: '/etc' }, /--build-subdir "\/etc" is outside the source tree/],
    [undefined, { buildSubdir: 'escape' }, /--build-subdir "escape" resolves to .*, outside the source tree/],
    [undefined, { buildSubdir: 'nope' }, /"nope" does not exist in the source tree/],
    [undefined, { buildCommand: ' ' }, /--build-command is empty/],
    [{ modules: [{ name: 'a', install_dir: '../../x' }] }, {}, /modules\.a\.install_dir "\.\.\/\.\.\/x" leaves its directory/],
    [{ modules: [{ name: 'a', path: '../a.ko' }] }, {}, /modules\.a\.path "\.\.\/a\.ko" leaves its directory/],
    [{ modules: [{ name: 'a' }, { name: 'a' }] }, {}, /module a is declared twice/],
    [{ modules: [{ name: 'a', install_dir: 'x' }, { name: 'a2', install_dir: 'x' }] }, {}, /^(?!.*both)/],
    [{ modules: [{ name: 'a' }], tools: [{ name: 't', install_path: '/usr/bin/x', required: true }, { name: 'u', install_path: '/usr/bin/x', required: true }] }, {}, /tool u and tool t both install to \/usr\/bin\/x/],
    [{ modules: [{ name: 'a' }], tools: [{ name: 't', install_path: '/usr/bin/../../x', required: true }] }, {}, /tools\.t\.install_path .* must be an absolute path in the image without "\.\."/],
    [{ modules: [{ name: 'a' }], tools: [{ name: 't', install_path: '/etc/a.conf', required: true }], files: { '/etc/a.conf': { content: '' } } }, {}, /file \/etc\/a\.conf and tool t both install to \/etc\/a\.conf/],
    [{ files: { '/etc/x': { from: '../../etc/passwd' } } }, {}, /files\."\/etc\/x"\.from "\.\.\/\.\.\/etc\/passwd" leaves its directory/],
    [{ files: { '/etc/x': { from: 'missing.conf' } } }, {}, /is not a file of the source tree/],
  ];
  for (const [cfg, flags, re] of cases) {
    if (re.source.startsWith('^(?!')) {
      resolvePayload(dir, cfg, undefined, flags); // distinct names in one directory: allowed
      continue;
    }
    assert.throws(() => resolvePayload(dir, cfg, undefined, flags), usage(re), `${JSON.stringify(cfg)} ${JSON.stringify(flags)}`);
  }
  // The schema refuses a module name with a slash with the key and value named.
  assert.throws(() => loadConfig({ source: tree('payload:\n  modules: [{ name: a/b }]\n') }), usage(/payload\.modules\[0\]\.name = "a\/b": a kernel module name/));
  assert.throws(() => loadConfig({ source: tree('payload:\n  files: { /etc/x: { from: a, content: b } }\n') }), usage(/exactly one of `from` and `content`/));
});

test('the default payload is frozen and equal to what loadConfig resolves for the example', () => {
  assert.ok(Object.isFrozen(DEFAULT_PAYLOAD));
  const p = loadConfig({ source: EXAMPLE_SOURCE }).payload;
  assert.deepEqual({ ...p }, { ...DEFAULT_PAYLOAD });
});
