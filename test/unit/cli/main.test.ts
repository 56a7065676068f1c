// Runs the real bin (src/cli/main.ts under tsx) as a child process.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PACKAGE_ROOT, PACKAGE_VERSION } from '../../../src/paths.js';
import { fakeBin, isAlive, tempDir, waitFor } from '../../helpers/fs.js';

const MAIN = join(PACKAGE_ROOT, 'src', 'cli', 'main.ts');
// Resolved here: `--import tsx` alone would be looked up from the child's (temporary) cwd.
const TSX = import.meta.resolve('tsx');

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin asynchronously (so that tests in a concurrent describe really overlap). */
function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Result> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd: opts.cwd ?? tempDir(),
    env: { ...process.env, NO_COLOR: '1', IMAGE_VARIANT: '', VEXFS_VERSION: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

function oneLine(r: Result, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.ok(lines[0]!.startsWith('vexfs-image: '), lines[0]);
}

describe('vexfs-image (the bin)', { concurrency: 3, timeout: 90_000 }, () => {
  test('--version prints the package version on stdout, exit 0', async () => {
    const r = await cli(['--version']);
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${PACKAGE_VERSION}\n`);
    assert.equal(r.stderr, '');
  });

  test('--bogus: exit 2, one line naming the flag, nothing on stdout', async () => {
    const r = await cli(['--bogus']);
    assert.equal(r.status, 2);
    assert.equal(r.stdout, '');
    oneLine(r, /unknown option '--bogus'/);
  });

  test('doctor --help: exit 0 with Examples', async () => {
    const r = await cli(['doctor', '--help']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: vexfs-image doctor/);
    assert.match(r.stdout, /Examples:\n {2}\$ vexfs-image doctor/);
  });

});

test('bad build input (the real bin): exit 2, one line, nothing written', { timeout: 60_000 }, async () => {
  const cwd = tempDir();
  const cache = tempDir();
  const r = await cli(['build', '--variant', 'a/b'], { cwd, env: { VEXFS_IMAGE_CACHE_DIR: cache } });
  assert.equal(r.status, 2, r.stderr);
  oneLine(r, /^vexfs-image: error: invalid variant name "a\/b" \(from --variant\)/);
  assert.equal(r.stdout, '');
  assert.deepEqual(readdirSync(cwd), []);
  assert.deepEqual(readdirSync(cache), []);
  // (the full matrix of bad input runs in-process in program.test.ts)
});

test('SIGINT while a tool runs: exit 130, one line, and the tool is dead', { timeout: 60_000 }, async () => {
  // A fake qemu-system-x86_64 that answers --version and hangs when asked to run a guest.
  const bin = tempDir();
  const pidFile = join(bin, 'qemu.pid');
  fakeBin(bin, 'qemu-system-x86_64', `if [ "$1" = --version ]; then echo "QEMU emulator version 9.9.9 (fake)"; exit 0; fi\necho $$ > ${pidFile}\nexec sleep 60`);
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'doctor', '--refresh', '--cache-dir', join(tempDir(), 'cache')], {
    cwd: tempDir(),
    env: { ...process.env, NO_COLOR: '1', PATH: `${bin}${delimiter}${process.env.PATH}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  try {
    assert.ok(await waitFor(() => readText(pidFile) !== '', 20_000), 'the probe never started');
    const qemuPid = Number(readText(pidFile));
    assert.equal(isAlive(qemuPid), true);
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.equal(isAlive(qemuPid), false, 'the hung QEMU was left running');
    const lines = stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^vexfs-image: error: interrupted/);
  } finally {
    child.kill('SIGKILL');
  }
});

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
