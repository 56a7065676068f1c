import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { tempDir } from '../../helpers/fs.js';
import { assertVmBuildTarget } from '../../../src/builder/prepare.js';
import { payloadSpec } from '../../../src/builder/payload-spec.js';
import { missingArtifactError, parseArtifacts } from '../../../src/builder/build-in-vm.js';
import { parseResults } from '../../../src/builder/guest-run.js';
import { buildUserData, loadPayloadFiles, templateVars } from '../../../src/builder/user-data.js';
import { renderUserData } from '../../../src/tools/seed.js';
import { loadConfig } from '../../../src/config/load.js';
import { DEFAULT_PAYLOAD } from '../../../src/config/payload.js';
import { BUILTIN_VARIANTS, DEFAULT_BASE_PACKAGES } from '../../../src/config/variants.js';
import { UsageError } from '../../../src/errors.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import type { BuildPlan } from '../../../src/config/load.js';

test('the payload spec is one tab-separated record a line, with the expected version filled in', () => {
  const spec = payloadSpec(DEFAULT_PAYLOAD, '1.2.3');
  const lines = spec.trimEnd().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(lines[0], ['dir', '.']);
  assert.deepEqual(lines[1], ['command', 'make vm-build']);
  assert.deepEqual(lines[2], ['module', 'vexfs', '**/vexfs.ko', 'extra/vexfs']);
  assert.deepEqual(lines[3], ['tool', 'vexctl', '**/release/vexctl', '/usr/local/bin/vexctl', '1', 'vexctl --version', 'vexctl 1.2.3']);
  assert.deepEqual(lines.filter((l) => l[0] === 'file').map((l) => l[1]), DEFAULT_PAYLOAD.files.map((f) => f.path));
  // No field is empty except possibly a last one (bash's read collapses runs of tabs).
  for (const l of lines) assert.ok(l.slice(0, -1).every((f) => f !== ''), l.join('|'));
  const withEnv = payloadSpec({ ...DEFAULT_PAYLOAD, env: { A: 'x y' }, installCommand: 'make install DESTDIR=$DESTDIR', tools: [] }, '1');
  assert.match(withEnv, /^env\tA\tx y$/m);
  assert.match(withEnv, /^install\tmake install DESTDIR=\$DESTDIR$/m);
  assert.throws(() => payloadSpec({ ...DEFAULT_PAYLOAD, buildCommand: 'a\nb' }, '1'), /tab or newline/);
});

test('artifacts and missing-artifact results from the guest script', () => {
  const r = parseResults(
    [
      'result.artifact_1=tool\tvexctl\t/usr/local/bin/vexctl\t400\t' + 'b'.repeat(64) + '\t',
      'result.artifact_0=module\tvexfs\t/lib/modules/6.12/extra/vexfs/vexfs.ko\t1234\t' + 'a'.repeat(64) + '\t6.12 SMP mod_unload',
      'result.kernel=6.12',
    ].join('\n'),
  );
  assert.deepEqual(parseArtifacts(r), [
    { kind: 'module', name: 'vexfs', path: '/lib/modules/6.12/extra/vexfs/vexfs.ko', size: 1234, sha256: 'a'.repeat(64), vermagic: '6.12 SMP mod_unload' },
    { kind: 'tool', name: 'vexctl', path: '/usr/local/bin/vexctl', size: 400, sha256: 'b'.repeat(64) },
  ]);
  assert.equal(missingArtifactError(r, 'make x'), undefined);
  const m = missingArtifactError(parseResults('result.missing=module ghostfs (**/ghostfs.ko),tool t (**/t)\nresult.looked_in=/usr/src/vexfs\nresult.produced_ko=kernel_module/scratchfs.ko\nresult.produced_exe=\n'), 'make modules');
  assert.ok(m instanceof UsageError);
  assert.equal(m.message, 'the build (make modules) did not produce module ghostfs (**/ghostfs.ko), tool t (**/t): looked in /usr/src/vexfs, which holds .ko files: kernel_module/scratchfs.ko; executables: none');
});

test('a make TARGET build command needs the target in the build directory\'s Makefile; other commands are not second-guessed', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'km'));
  const p = (buildCommand: string, buildDirectory = '.') => ({ buildCommand, buildDirectory });
  assert.throws(() => assertVmBuildTarget(dir, p('make modules')), (e: unknown) => e instanceof UsageError && /has no Makefile/.test(e.message));
  writeFileSync(join(dir, 'Makefile'), 'modules:\n\ttrue\n');
  assertVmBuildTarget(dir, p('make modules'));
  assertVmBuildTarget(dir, p('make -j4 modules'));
  assert.throws(() => assertVmBuildTarget(dir, p('make all')), (e: unknown) => e instanceof UsageError && /Makefile has no all target/.test(e.message));
  assert.throws(() => assertVmBuildTarget(dir, p('make modules', 'km')), (e: unknown) => e instanceof UsageError && /km has no Makefile/.test(e.message));
  assertVmBuildTarget(dir, p('make -C "$KDIR" M="$PWD" modules', 'km'));
  assertVmBuildTarget(dir, p('./build.sh'));
});

test('user-data: the payload\'s files rendered, its services enabled, nothing of VexFS\'s left', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'Kbuild'), 'obj-m := scratchfs.o\n');
  writeFileSync(join(dir, 'a.conf.tmpl'), 'version={{version}} variant={{variant}}\n');
  writeFileSync(join(dir, 'vexfs-image.yaml'), 'payload:\n  modules: [{ name: scratchfs }]\n  files:\n    /etc/a/a.conf: { from: a.conf.tmpl }\n    /usr/sbin/a-run: { content: "#!/bin/sh\\n", mode: "755" }\n  services: [a.service]\n');
  const payload = loadConfig({ source: dir }).payload;
  const plan = { version: '2.0.0', variantName: 'minimal', variant: BUILTIN_VARIANTS.minimal!, basePackages: DEFAULT_BASE_PACKAGES, preinstall: [] as string[], payload };
  const files = await loadPayloadFiles(payload, templateVars(plan, new Date()));
  assert.deepEqual(files, [
    { path: '/etc/a/a.conf', content: 'version=2.0.0 variant=minimal\n', permissions: '0644' },
    { path: '/usr/sbin/a-run', content: '#!/bin/sh\n', permissions: '0755' },
  ]);
  const doc = parse(renderUserData(buildUserData(plan, 'ssh-ed25519 AAAA k', files))) as { runcmd: string[][]; write_files: Array<{ path: string }> };
  assert.deepEqual(doc.runcmd, [['systemctl', 'daemon-reload'], ['systemctl', 'enable', 'a.service']]);
  assert.ok(!doc.write_files.some((f) => f.path.includes('vexfs.')), JSON.stringify(doc.write_files.map((f) => f.path)));
  // A template with a variable nobody defines is refused, naming the ones there are.
  writeFileSync(join(dir, 'a.conf.tmpl'), '{{nope}}\n');
  await assert.rejects(loadPayloadFiles(payload, templateVars(plan, new Date())), (e: unknown) => e instanceof UsageError && /\{\{nope\}\}.*the variables are version, variant, build_date/.test(e.message));
});

test('user-data of the default payload: the VexFS files, vexfs.service enabled, its log file created', async () => {
  const plan = { version: '1.0.0', variantName: 'minimal', variant: BUILTIN_VARIANTS.minimal!, basePackages: DEFAULT_BASE_PACKAGES, preinstall: [] as string[], payload: DEFAULT_PAYLOAD };
  const files = await loadPayloadFiles(DEFAULT_PAYLOAD, templateVars(plan, new Date()));
  assert.deepEqual(files.map((f) => [f.path, f.permissions]), [
    ['/etc/vexfs/vexfs.conf', '0644'],
    ['/etc/systemd/system/vexfs.service', '0644'],
    ['/usr/local/bin/vexfs-mount-helper', '0755'],
    ['/usr/local/bin/vexfs-umount-helper', '0755'],
    ['/var/log/vexfs.log', '0644'],
    ['/etc/modules-load.d/vexfs.conf', '0644'],
  ]);
  assert.match(files[0]!.content, /^version = 1\.0\.0$/m);
  const ud = buildUserData(plan, 'k', files) as { runcmd: string[][] };
  assert.deepEqual(ud.runcmd, [['systemctl', 'daemon-reload'], ['systemctl', 'enable', 'vexfs.service']]);
});

test('the manifest lists every installed artifact, in JSON and in the text', async () => {
  const { buildManifest, manifestText } = await import('../../../src/builder/manifest.js');
  const { newBuildContext } = await import('../../../src/builder/index.js');
  const { resolveBuildPlan } = await import('../../../src/config/load.js');
  const { profileFor } = await import('../../../src/vm/profile.js');
  const ctx = newBuildContext(resolveBuildPlan({ variant: 'minimal' }, {}), profileFor('tcg', 2048, 2), new Date('2026-01-01T00:00:00Z'));
  ctx.guest.artifacts = [
    { kind: 'module', name: 'vexfs', path: '/lib/modules/6.12/extra/vexfs/vexfs.ko', size: 1234, sha256: 'a'.repeat(64), vermagic: '6.12 SMP' },
    { kind: 'file', name: 'vexfs.conf', path: '/etc/vexfs/vexfs.conf', size: 10, sha256: 'c'.repeat(64) },
  ];
  const files = { image: { name: 'x.qcow2', size: 1, sha256: 'd', virtualSize: 2 }, compressed: { name: 'x.qcow2.gz', size: 1, sha256: 'e' } };
  const m = buildManifest(ctx, files, {});
  assert.deepEqual(m.artifacts, ctx.guest.artifacts);
  const text = manifestText(m);
  assert.match(text, /^ {2}module {2}\/lib\/modules\/6\.12\/extra\/vexfs\/vexfs\.ko \(1234 bytes, sha256 a{64}, vermagic 6\.12 SMP\)$/m);
  assert.match(text, /^ {2}file {4}\/etc\/vexfs\/vexfs\.conf \(10 bytes, sha256 c{64}\)$/m);
});

test('the build seed: {{build_date}} is SOURCE_DATE_EPOCH, else the source commit time, never the clock', async () => {
  const { buildSeed } = await import('../../../src/builder/seed.js');
  const { sourceFacts } = await import('../../../src/supply/source.js');
  const sourceDir = join(PACKAGE_ROOT, 'examples/vexfs');
  const plan = { version: '1.0.0', variantName: 'minimal', variant: BUILTIN_VARIANTS.minimal!, basePackages: DEFAULT_BASE_PACKAGES, preinstall: [] as string[], payload: DEFAULT_PAYLOAD, sourceDir } as unknown as BuildPlan;
  const conf = async (): Promise<string> => {
    const seed = await buildSeed(plan, new Date('2030-01-01T00:00:00Z'))('ssh-ed25519 AAAA k');
    const files = (seed.userData as { write_files: Array<{ path: string; content: string }> }).write_files;
    return files.find((f) => f.path === '/etc/vexfs/vexfs.conf')!.content;
  };
  const saved = process.env.SOURCE_DATE_EPOCH;
  try {
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    assert.match(await conf(), /^build_date = 2023-11-14T22:13:20\.000Z$/m);
    delete process.env.SOURCE_DATE_EPOCH;
    const epoch = (await sourceFacts(sourceDir)).commitEpoch;
    assert.ok(epoch, 'the example is in a git checkout');
    assert.match(await conf(), new RegExp(`^build_date = ${new Date(epoch * 1000).toISOString().replace(/\./g, '\\.')}$`, 'm'));
  } finally {
    if (saved === undefined) delete process.env.SOURCE_DATE_EPOCH;
    else process.env.SOURCE_DATE_EPOCH = saved;
  }
});
