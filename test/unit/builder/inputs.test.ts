import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../helpers/fs.js';
import { changedParts, hashTree, inputsRecord, planParts, type InputParts, type PlanInputs } from '../../../src/builder/inputs.js';
import { publishedState } from '../../../src/builder/up-to-date.js';
import { resolveBuildPlan } from '../../../src/config/load.js';
import { sha256sumLine } from '../../../src/tools/hash.js';
import { createHash } from 'node:crypto';

/** A scratch source tree, guest dir and code dir, and a plan over them. */
function fixture(): { plan: PlanInputs; guestDir: string; codeDir: string; src: string } {
  const root = tempDir();
  const src = join(root, 'src');
  mkdirSync(join(src, 'sub'), { recursive: true });
  writeFileSync(join(src, 'Makefile'), 'vm-build:\n\ttrue\n');
  writeFileSync(join(src, 'vexfs.c'), '/* one */\n');
  writeFileSync(join(src, 'sub', 'x.rs'), 'fn main() {}\n');
  const guestDir = join(root, 'guest');
  mkdirSync(guestDir);
  writeFileSync(join(guestDir, 'build.sh'), 'echo build\n');
  const codeDir = join(root, 'code');
  mkdirSync(codeDir);
  writeFileSync(join(codeDir, 'a.ts'), 'export {};\n');
  const p = resolveBuildPlan({ source: src, variant: 'minimal', outputDir: join(root, 'out'), buildDir: join(root, 'build'), cacheDir: join(root, 'cache') }, {}, root);
  return { plan: { ...p }, guestDir, codeDir, src };
}

async function digestOf(f: ReturnType<typeof fixture>, plan: PlanInputs = f.plan, base: string | null = 'a'.repeat(64), toolVersion = '1.0.0'): Promise<string> {
  return inputsRecord(await planParts(plan, { guestDir: f.guestDir, codeDir: f.codeDir, toolVersion }), base).digest;
}

test('the inputs digest is stable: same inputs, same digest; mtimes and key order do not count', async () => {
  const f = fixture();
  const a = await digestOf(f);
  assert.match(a, /^[0-9a-f]{64}$/);
  utimesSync(join(f.src, 'vexfs.c'), new Date(0), new Date(0));
  assert.equal(await digestOf(f), a);
  // The same plan with its keys in another order.
  const reordered = Object.fromEntries(Object.entries(f.plan).reverse()) as unknown as PlanInputs;
  assert.equal(await digestOf(f, reordered), a);
  // Host-side settings are not inputs.
  assert.equal(await digestOf(f, { ...f.plan, ...({ outputDir: '/elsewhere', timeoutS: 5, memoryMb: 4096 } as object) }), a);
});

test('the inputs digest changes when each input changes, and names that part alone', async () => {
  type Fixture = ReturnType<typeof fixture>;
  type Change = { plan?: PlanInputs; base?: string; toolVersion?: string };
  const cases: Array<[keyof InputParts, (f: Fixture) => Change | void]> = [
    ['source', (f) => writeFileSync(join(f.src, 'vexfs.c'), '/* two */\n')],
    ['source', (f) => writeFileSync(join(f.src, '.hidden'), '')],
    ['source', (f) => chmodSync(join(f.src, 'Makefile'), 0o755)],
    ['source', (f) => symlinkSync('vexfs.c', join(f.src, 'link.c'))],
    ['source', (f) => mkdirSync(join(f.src, 'empty'))],
    ['guest', (f) => writeFileSync(join(f.guestDir, 'build.sh'), 'echo other\n')],
    ['tool', (f) => writeFileSync(join(f.codeDir, 'a.ts'), 'export const x = 1;\n')],
    ['tool', () => ({ toolVersion: '1.0.1' })],
    ['version', (f) => ({ plan: { ...f.plan, version: '2.0.0' } })],
    ['variant', (f) => ({ plan: { ...f.plan, variantName: 'development' } })],
    ['variant', (f) => ({ plan: { ...f.plan, variant: { ...f.plan.variant, packages: ['vim'] } } })],
    ['payload', (f) => ({ plan: { ...f.plan, payload: { ...f.plan.payload, buildCommand: 'make other' } } })],
    ['packages', (f) => ({ plan: { ...f.plan, basePackages: [...f.plan.basePackages, 'ccache'] } })],
    ['packages', (f) => ({ plan: { ...f.plan, toolchainPackages: [] } })],
    ['config', (f) => ({ plan: { ...f.plan, base: 'debian-12' } })],
    ['config', (f) => ({ plan: { ...f.plan, diskSizeBytes: f.plan.diskSizeBytes * 2 } })],
    ['base', () => ({ base: 'b'.repeat(64) })],
  ];
  for (const [part, change] of cases) {
    const f = fixture();
    const before = await digestOf(f);
    const beforeParts = inputsRecord(await planParts(f.plan, { guestDir: f.guestDir, codeDir: f.codeDir, toolVersion: '1.0.0' }), 'a'.repeat(64)).parts;
    const c = change(f) ?? {};
    const plan = c.plan ?? f.plan;
    const after = inputsRecord(await planParts(plan, { guestDir: f.guestDir, codeDir: f.codeDir, toolVersion: c.toolVersion ?? '1.0.0' }), c.base ?? 'a'.repeat(64));
    assert.notEqual(after.digest, before, `${part}: digest unchanged`);
    assert.deepEqual(changedParts(after.parts, beforeParts), [part]);
  }
});

test('the config part counts the config file text', async () => {
  const f = fixture();
  const cfg = join(f.src, 'other.yaml');
  writeFileSync(cfg, 'version: 1.0.0\n');
  const a = await digestOf(f, { ...f.plan, configPath: cfg });
  // Outside the source tree the file is only seen through configPath: move it out and edit it.
  const outside = join(tempDir(), 'vexfs-image.yaml');
  writeFileSync(outside, 'version: 1.0.0\n');
  const b = await digestOf(f, { ...f.plan, configPath: outside });
  writeFileSync(outside, 'version: 1.0.0 # edited\n');
  const c = await digestOf(f, { ...f.plan, configPath: outside });
  assert.notEqual(b, c);
  assert.match(a, /^[0-9a-f]{64}$/);
});

test('the source part skips what build-payload.sh does not copy (.git, the cargo target directories)', async () => {
  const f = fixture();
  mkdirSync(join(f.src, 'vexctl'));
  const before = await digestOf(f);
  for (const d of ['.git', 'target', 'vexctl/target', 'sub/.git']) {
    mkdirSync(join(f.src, d), { recursive: true });
    writeFileSync(join(f.src, d, 'x'), 'build output');
  }
  assert.equal(await digestOf(f), before);
  mkdirSync(join(f.src, 'sub', 'target'));
  assert.notEqual(await digestOf(f), before, 'only the top-level target is skipped, as tar --exclude=./target');
});

test('hashTree sees a file moved between directories', async () => {
  const a = tempDir();
  mkdirSync(join(a, 'x'));
  writeFileSync(join(a, 'x', 'f'), '1');
  const h1 = await hashTree(a);
  const b = tempDir();
  mkdirSync(join(b, 'x'));
  writeFileSync(join(b, 'xf'), '1');
  assert.notEqual(await hashTree(b), h1);
});

/** Publishes a fake image with a manifest recording the given inputs, as finalise lays it out. */
function publish(dir: string, name: string, inputs: unknown): void {
  mkdirSync(dir, { recursive: true });
  const files = { image: `${name}.qcow2`, gz: `${name}.qcow2.gz` };
  const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
  writeFileSync(join(dir, files.image), 'qcow2 bytes');
  writeFileSync(join(dir, files.gz), 'gz bytes');
  writeFileSync(join(dir, `${files.image}.sha256`), sha256sumLine(sha('qcow2 bytes'), files.image));
  writeFileSync(join(dir, `${files.gz}.sha256`), sha256sumLine(sha('gz bytes'), files.gz));
  writeFileSync(join(dir, `${name}.manifest`), 'text\n');
  const m = {
    schema: 'vexfs-image/manifest@1',
    files: { image: { name: files.image, size: 11, sha256: sha('qcow2 bytes'), virtual_size: 1 }, compressed: { name: files.gz, size: 8, sha256: sha('gz bytes') } },
    inputs,
  };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(m));
  // As finalise does: the images are older than the manifest.
  utimesSync(join(dir, files.image), new Date(1000), new Date(1000));
  utimesSync(join(dir, files.gz), new Date(1000), new Date(1000));
}

test('publishedState: absent, up to date (cheap checks), stale on changed inputs, bad files or no digest', async () => {
  const f = fixture();
  const rec = inputsRecord(await planParts(f.plan, { guestDir: f.guestDir, codeDir: f.codeDir }), 'a'.repeat(64));
  const dir = join(tempDir(), 'out');
  const name = 'vexfs-minimal-1.0.0';
  assert.deepEqual(await publishedState(dir, name, rec), { state: 'absent' });

  publish(dir, name, rec);
  const ok = await publishedState(dir, name, rec);
  assert.equal(ok.state, 'up-to-date');
  assert.equal(ok.state === 'up-to-date' && ok.checks, 'cheap');
  assert.equal(ok.state === 'up-to-date' && ok.artifacts.image, join(dir, `${name}.qcow2`));

  const other = inputsRecord({ ...rec.parts, source: 'f'.repeat(64) }, 'a'.repeat(64));
  const stale = await publishedState(dir, name, other);
  assert.deepEqual(stale, { state: 'stale', why: 'its inputs changed: source' });
  const noBase = await publishedState(dir, name, inputsRecord(rec.parts, null));
  assert.match(noBase.state === 'stale' ? noBase.why : '', /base \(not in the cache\)/);

  // Modified in place after publishing (same size): the mtime check triggers a re-hash, which catches it.
  writeFileSync(join(dir, `${name}.qcow2`), 'QCOW2 bytes');
  const modified = await publishedState(dir, name, rec);
  assert.match(modified.state === 'stale' ? modified.why : '', /modified after it was published/);

  // Copied without mtimes but intact: re-hashed, and still up to date.
  publish(dir, name, rec);
  utimesSync(join(dir, `${name}.qcow2`), new Date(), new Date(Date.now() + 60_000));
  const copied = await publishedState(dir, name, rec);
  assert.equal(copied.state === 'up-to-date' && copied.checks, 'rehashed');

  publish(dir, name, rec);
  writeFileSync(join(dir, `${name}.qcow2.gz`), 'truncated');
  assert.match(((await publishedState(dir, name, rec)) as { why: string }).why, /\.gz is 9 bytes, the manifest says 8/);

  publish(dir, name, rec);
  writeFileSync(join(dir, `${name}.qcow2.sha256`), sha256sumLine('0'.repeat(64), `${name}.qcow2`));
  assert.match(((await publishedState(dir, name, rec)) as { why: string }).why, /\.qcow2\.sha256 does not match/);

  publish(dir, name, undefined);
  assert.match(((await publishedState(dir, name, rec)) as { why: string }).why, /records no inputs digest/);

  publish(dir, name, rec);
  writeFileSync(join(dir, `${name}.json`), '{');
  assert.match(((await publishedState(dir, name, rec)) as { why: string }).why, /no readable manifest/);
});
