// The example VexFS tree on real Debian cloud kernels, without a full image:
// - compile vexfs.ko warning-free against the cloud-kernel headers of Debian 12 (6.1) and
//   Debian 13 (6.12), each inside a throw-away root with that suite's own gcc;
// - boot each very kernel directly (-kernel + busybox initramfs) under QEMU/TCG and run
//   load / mount / write / read / stats / umount / rmmod, failing on Oops/BUG/WARNING;
// - prove the harness catches a broken module (an injected WARN_ON, a wrong mount count).
// The roots are cached by test/vexfs-tree/make-root.sh (cold: ~2 min for both, built in
// parallel; warm: instant). Needs root, mmdebstrap, qemu-system-x86_64, cpio, busybox-static
// and cargo; without them the tests skip, except in CI (CI=true) where they fail.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');
const TREE = join(REPO, 'examples/vexfs');
const SCRIPTS = join(REPO, 'test/vexfs-tree');
const SUITES = ['bookworm', 'trixie'] as const;
const KERNEL_SERIES: Record<(typeof SUITES)[number], RegExp> = { bookworm: /^6\.1\.\d/, trixie: /^6\.12\.\d/ };
const VERSION = '9.8.7-e2e';
const IN_CI = process.env.CI === 'true';
/** Kernel trouble in the console output (the guest's own quoted lines excluded). */
const KERNEL_TROUBLE = /Oops|BUG:|kernel BUG|WARNING:|Call Trace|Kernel panic/;

const out = mkdtempSync(join(tmpdir(), 'vexfs-tree-e2e-'));
let anyFailed = false;
after(() => {
  if (anyFailed) console.log(`# logs kept in ${out}`);
  else rmSync(out, { recursive: true, force: true });
});

function missingTools(): string[] {
  const missing = ['mmdebstrap', 'chroot', 'qemu-system-x86_64', 'cpio', 'cargo', 'make'].filter(
    (c) => spawnSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore' }).status !== 0,
  );
  if (!existsSync(process.env.VEXFS_TEST_BUSYBOX ?? '/bin/busybox')) missing.push('busybox (busybox-static)');
  if (process.getuid?.() !== 0) missing.push('root privileges');
  return missing;
}
const missing = missingTools();

interface Result {
  code: number | null;
  output: string;
}

/** Runs a helper script, collecting stdout+stderr, with a hard deadline. */
function runScript(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 600_000): Promise<Result> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', args, {
      cwd: REPO,
      env: { ...process.env, VEXFS_TEST_VERSION: VERSION, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills QEMU too
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        /* already gone */
      }
    };
    // SIGTERM first (mmdebstrap then unmounts what it mounted), SIGKILL 10 s later.
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      output += `\n[deadline of ${timeoutMs} ms passed: killed]\n`;
      signal('SIGTERM');
      killTimer = setTimeout(() => signal('SIGKILL'), 10_000);
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      resolvePromise({ code, output });
    });
  });
}

function tail(s: string, lines = 60): string {
  return s.split('\n').slice(-lines).join('\n');
}

/** Guards a test body: skip (or fail in CI) without the tools; remember failures. */
function guarded(fn: () => Promise<void>) {
  return async (t: { skip: (msg: string) => void }) => {
    if (missing.length > 0) {
      if (IN_CI) assert.fail(`missing on this CI machine: ${missing.join(', ')}`);
      t.skip(`missing: ${missing.join(', ')}`);
      return;
    }
    try {
      await fn();
    } catch (e) {
      anyFailed = true;
      throw e;
    }
  };
}

let rootsReady: Promise<Result[]> | undefined;
let vexctlReady: Promise<Result> | undefined;
before(() => {
  if (missing.length > 0) return;
  // The two roots are mostly downloads and dpkg: build them side by side.
  rootsReady = Promise.all(SUITES.map((s) => runScript([join(SCRIPTS, 'make-root.sh'), s], {}, 900_000)));
  mkdirSync(join(out, 'vexctl'), { recursive: true });
  vexctlReady = runScript([join(SCRIPTS, 'kernel-test.sh'), 'vexctl', join(out, 'vexctl')]);
});

async function roots(): Promise<void> {
  const results = await rootsReady!;
  results.forEach((r, i) => assert.equal(r.code, 0, `make-root.sh ${SUITES[i]} failed:\n${tail(r.output)}`));
}

function assertRuntimePassed(suite: string, dir: string, r: Result): string {
  const serial = existsSync(join(dir, 'serial.log')) ? readFileSync(join(dir, 'serial.log'), 'utf8') : '';
  const context = `kernel-test.sh boot ${suite}:\n${tail(r.output, 120)}`;
  assert.equal(r.code, 0, context);
  const lines = serial.split('\n');
  const guest = lines.filter((l) => l.startsWith('VEXFS-TEST'));
  const kernelLines = lines.filter((l) => !l.startsWith('VEXFS-TEST') && !l.startsWith('    | '));
  assert.deepEqual(kernelLines.filter((l) => KERNEL_TROUBLE.test(l)), [], context);
  assert.deepEqual(guest.filter((l) => l.startsWith('VEXFS-TEST FAIL')), [], context);
  const result = guest.find((l) => l.startsWith('VEXFS-TEST RESULT:'));
  assert.match(result ?? '', /^VEXFS-TEST RESULT: PASS \(\d+ checks, kernel \S+\)$/, context);
  const release = readFileSync(join(dir, 'kernel-release'), 'utf8').trim();
  assert.ok(result!.endsWith(`kernel ${release})`), `guest ran ${result}, expected ${release}`);
  for (const marker of [
    'insmod vexfs.ko',
    `/sys/module/vexfs/version is ${VERSION}`,
    'mount -t vexfs none /mnt/vexfs',
    'stats: 1 mount',
    'read it back',
    'read 2 MiB back identically',
    'rename a file into a subdirectory',
    'rmdir empty directories',
    'statfs reports the vexfs magic',
    'stats: 2 mounts',
    'rmmod refuses while mounted',
    'stats: 0 mounts after umount',
    'rmmod vexfs',
    '/sys/fs/vexfs is gone',
    `vexctl --version prints 'vexctl ${VERSION}'`,
    'vexctl status exits 0 with the module loaded',
    'vexctl status lists the mount',
    'vexctl status exits 3 with the module unloaded',
    'kernel log is clean (no oops, bug or warning reports)',
  ]) {
    assert.ok(guest.includes(`VEXFS-TEST PASS: ${marker}`), `missing "VEXFS-TEST PASS: ${marker}"\n${context}`);
  }
  assert.ok(guest.filter((l) => l.startsWith('VEXFS-TEST PASS:')).length >= 70, context);
  return guest.join('\n');
}

for (const suite of SUITES) {
  const dir = join(out, suite);

  test(`vexfs.ko compiles warning-free against ${suite}'s cloud kernel headers`, guarded(async () => {
    await roots();
    const r = await runScript([join(SCRIPTS, 'kernel-test.sh'), 'compile', suite, dir]);
    assert.equal(r.code, 0, `kernel-test.sh compile ${suite}:\n${tail(r.output)}`);
    const log = readFileSync(join(dir, 'build.log'), 'utf8');
    assert.match(log, /LD \[M\] .*vexfs\.ko/);
    assert.doesNotMatch(log, /warning:|error:/i);
    const release = readFileSync(join(dir, 'kernel-release'), 'utf8').trim();
    assert.match(release, KERNEL_SERIES[suite]);
    assert.match(release, /-cloud-amd64$/);
    const modinfo = readFileSync(join(dir, 'modinfo.txt'), 'utf8');
    assert.match(modinfo, new RegExp(`^vermagic: +${release.replace(/[.+]/g, '\\$&')} `, 'm'));
    assert.match(modinfo, new RegExp(`^version: +${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(modinfo, /^license: +GPL$/m);
  }));

  test(`${suite}'s cloud kernel loads, mounts, exercises and unloads vexfs cleanly (QEMU, TCG)`, guarded(async () => {
    assert.ok(existsSync(join(dir, 'vexfs.ko')), 'the compile test did not produce vexfs.ko');
    const v = await vexctlReady!;
    assert.equal(v.code, 0, `static vexctl build failed:\n${tail(v.output)}`);
    cpSync(join(out, 'vexctl/vexctl'), join(dir, 'vexctl'));
    const r = await runScript([join(SCRIPTS, 'kernel-test.sh'), 'boot', suite, dir], { VEXFS_TEST_BOOT_TIMEOUT: '180' }, 240_000);
    const guest = assertRuntimePassed(suite, dir, r);
    console.log(guest);
  }));
}

/** Builds and boots a deliberately broken copy of the tree on bookworm; returns the boot result. */
async function bootBroken(name: string, breakIt: (src: string) => string): Promise<{ r: Result; serial: string }> {
  await roots();
  const tree = join(out, `tree-${name}`);
  cpSync(TREE, tree, { recursive: true, filter: (src) => !src.slice(TREE.length).includes('/target') });
  const file = join(tree, 'vexfs.c');
  const src = readFileSync(file, 'utf8');
  const broken = breakIt(src);
  assert.notEqual(broken, src, 'the fault was not injected');
  writeFileSync(file, broken);
  const dir = join(out, `broken-${name}`);
  const c = await runScript([join(SCRIPTS, 'kernel-test.sh'), 'compile', 'bookworm', dir], { VEXFS_TREE: tree });
  assert.equal(c.code, 0, `compile of the broken tree failed:\n${tail(c.output)}`);
  const r = await runScript([join(SCRIPTS, 'kernel-test.sh'), 'boot', 'bookworm', dir], { VEXFS_TREE: tree }, 240_000);
  return { r, serial: readFileSync(join(dir, 'serial.log'), 'utf8') };
}

test('the runtime test fails on a kernel WARNING from the module', guarded(async () => {
  const { r, serial } = await bootBroken('warn', (s) =>
    s.replace('\tatomic_inc(&vexfs_mounts);\n', '\tatomic_inc(&vexfs_mounts);\n\tWARN_ON(1);\n'),
  );
  assert.notEqual(r.code, 0, 'kernel-test.sh passed a module that WARNs');
  assert.match(serial, /WARNING: .*vexfs_fill_super/);
  assert.doesNotMatch(serial, /^VEXFS-TEST RESULT: PASS/m);
}));

test('the runtime test fails when the module miscounts its mounts', guarded(async () => {
  const { r, serial } = await bootBroken('count', (s) => s.replace('\t\tatomic_dec(&vexfs_mounts);\n', '\t\t;\n'));
  assert.notEqual(r.code, 0, 'kernel-test.sh passed a module with a wrong mount count');
  assert.match(serial, /^VEXFS-TEST FAIL: stats: 0 mounts after umount/m);
  assert.match(serial, /^VEXFS-TEST RESULT: FAIL/m);
  assert.match(r.output, /guest checks failed/);
}));
