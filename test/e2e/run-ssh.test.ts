// End-to-end: `vexfs-image run` boots a real VM (the cached Debian base image: a cloud image
// with cloud-init and sshd, so no image build is needed), `vexfs-image ssh` runs commands in it,
// and Ctrl-C powers it off and removes everything but the untouched image.
//
//  VEXFS_E2E_BASE          use this image instead of `resolveBase('debian-13')`
//  VEXFS_E2E_BOOT_TIMEOUT  --boot-timeout of the run (default 300 s; a boot takes ~90 s under TCG)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { resolveBase } from '../../src/base/index.js';
import { defaultCacheDir, PACKAGE_ROOT } from '../../src/paths.js';
import type { InstanceState } from '../../src/run/state.js';
import { run, type ExecResult } from '../../src/tools/exec.js';
import { sha256File } from '../../src/tools/hash.js';
import { imageInfo } from '../../src/tools/qemu-img.js';
import { isAlive, waitFor } from '../helpers/fs.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');
const BOOT_TIMEOUT_S = Number(process.env.VEXFS_E2E_BOOT_TIMEOUT ?? 300);
const NAME = `t-${process.pid}`;
const DIR = join(defaultCacheDir(), 'instances', NAME);
const env = { ...process.env, NO_COLOR: '1', CI: 'true' };

/** The CLI to completion (ssh, a second run), with its exit code whatever it is. */
function cli(args: string[], timeoutMs = 60_000): Promise<ExecResult> {
  return run(BIN, args, { allowFailure: true, timeoutMs, env });
}

interface Running {
  proc: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
  code?: number | null;
}

function startRun(args: string[]): Running {
  const proc = spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const r: Running = { proc, stdout: '', stderr: '', exited: Promise.resolve(null) };
  proc.stdout!.on('data', (b: Buffer) => (r.stdout += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (r.stderr += b.toString()));
  r.exited = new Promise((res) =>
    proc.on('close', (code, sig) => {
      r.code = code ?? (sig ? -1 : null);
      res(r.code);
    }),
  );
  return r;
}

/** The promise's value, or `timeout` after ms (the timer is cleared: it must not hold the test open). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function readState(): InstanceState {
  return JSON.parse(readFileSync(join(DIR, 'state.json'), 'utf8')) as InstanceState;
}

describe('vexfs-image run and ssh on a real VM', { timeout: 12 * 60_000 }, () => {
  let base: string;
  let shaBefore: string;
  let vm: Running | undefined;
  let qemuPid: number | undefined;

  before(async () => {
    base = process.env.VEXFS_E2E_BASE ? resolve(process.env.VEXFS_E2E_BASE) : (await resolveBase('debian-13', { cacheDir: defaultCacheDir() })).path;
    shaBefore = await sha256File(base);
  });

  // Whatever happened above, leave no VM and no instance behind.
  after(async () => {
    if (vm && vm.code === undefined) {
      vm.proc.kill('SIGINT');
      if ((await within(vm.exited, 60_000)) === 'timeout') vm.proc.kill('SIGKILL');
    }
    if (qemuPid && isAlive(qemuPid)) process.kill(qemuPid, 'SIGKILL');
    if (existsSync(DIR)) await rm(DIR, { recursive: true, force: true });
  });

  test('boot, ssh in, refuse a second run of the name, Ctrl-C: exit 130, nothing left, image unchanged', async (t) => {
    const t0 = Date.now();
    vm = startRun(['run', base, '--name', NAME, '--boot-timeout', String(BOOT_TIMEOUT_S)]);
    const current = vm;
    const ready = await waitFor(() => /^ready: /m.test(current.stdout) || current.code !== undefined, (BOOT_TIMEOUT_S + 120) * 1000, 250);
    assert.ok(ready && current.code === undefined, `no ready line (exit ${current.code}):\n${current.stderr}`);
    const readyS = (Date.now() - t0) / 1000;
    const sshUp = /SSH ready ([\d.]+) s after power-on/.exec(current.stderr)?.[1];
    t.diagnostic(`ready line after ${readyS.toFixed(1)} s (SSH up ${sshUp} s after power-on)`);

    // The ready lines: how to connect, by name and with plain ssh.
    const lines = current.stdout.trimEnd().split('\n');
    assert.equal(lines[0], `ready: vexfs-image ssh ${NAME}`);
    assert.match(lines[1] ?? '', new RegExp(`^ {3}or: ssh -i ${DIR}/id_ed25519 -p \\d+ -o IdentitiesOnly=yes -o UserKnownHostsFile=${DIR}/known_hosts vexfs-run@127\\.0\\.0\\.1$`));

    // The instance state: this run, its QEMU, the port on loopback only, a 0600 key, the host key recorded.
    const state = readState();
    qemuPid = state.qemuPid;
    assert.equal(state.pid, current.proc.pid);
    assert.equal(state.status, 'ready');
    assert.equal(state.image, base);
    assert.ok(qemuPid && isAlive(qemuPid), 'QEMU runs');
    assert.equal(statSync(state.key).mode & 0o777, 0o600);
    assert.match(readFileSync(state.knownHosts, 'utf8'), /ssh-ed25519 /);
    const cmdline = readFileSync(`/proc/${qemuPid}/cmdline`, 'utf8').split('\0');
    assert.ok(cmdline.some((a) => a.includes(`hostfwd=tcp:127.0.0.1:${state.sshPort}-:22`)), 'SSH forwarded from 127.0.0.1 only');
    assert.ok(cmdline.some((a) => a.startsWith(`file=${DIR}/overlay.qcow2,`)), 'QEMU writes to the overlay');
    assert.ok(!cmdline.some((a) => a.includes(base)), 'the image is not on the QEMU command line');
    assert.equal((await imageInfo(join(DIR, 'overlay.qcow2'))).backingFile, base, 'the image is the backing file');

    // ssh: a command, its exit status, a shell command line with passwordless sudo.
    const uname = await cli(['ssh', NAME, '--', 'uname', '-r']);
    assert.equal(uname.exitCode, 0, uname.stderr);
    assert.match(uname.stdout, /^\d+\.\d+\.\d+\S*\n$/);
    t.diagnostic(`guest kernel ${uname.stdout.trim()}; vexfs-image ssh -- uname -r took ${(uname.durationMs / 1000).toFixed(1)} s`);
    const three = await cli(['ssh', NAME, '--', 'sh', '-c', 'exit 3']);
    assert.equal(three.exitCode, 3, three.stderr);
    const sudo = await cli(['ssh', NAME, '--', 'sudo -n id -u && hostname']);
    assert.equal(sudo.exitCode, 0, sudo.stderr);
    assert.deepEqual(sudo.stdout.trim().split('\n'), ['0', NAME]);

    // ssh --list --json shows it.
    const list = await cli(['ssh', '--list', '--json']);
    assert.equal(list.exitCode, 0, list.stderr);
    const mine = (JSON.parse(list.stdout) as Array<Record<string, unknown>>).find((e) => e.name === NAME);
    assert.ok(mine, list.stdout);
    assert.deepEqual([mine.sshPort, mine.status, mine.image, mine.pid, mine.qemuPid, mine.user], [state.sshPort, 'ready', base, state.pid, qemuPid, 'vexfs-run']);

    // A second run with the same name: exit 2, quickly, and the first one is untouched.
    const t1 = Date.now();
    const second = await cli(['run', base, '--name', NAME]);
    assert.equal(second.exitCode, 2, second.stderr);
    assert.match(second.stderr, new RegExp(`an instance named ${NAME} is already running \\(pid ${state.pid},.*pick another name with --name`));
    assert.ok(Date.now() - t1 < 30_000, 'refused before booting anything');
    assert.equal(readState().qemuPid, qemuPid);
    assert.ok(isAlive(qemuPid));

    // Ctrl-C: ACPI power-off, exit 130, no QEMU, no instance directory, the image unchanged.
    const t2 = Date.now();
    current.proc.kill('SIGINT');
    const code = await within(current.exited, 90_000);
    assert.equal(code, 130, `exit ${code} (timeout: still running 90 s after SIGINT)\n${current.stderr}`);
    t.diagnostic(`stopped ${((Date.now() - t2) / 1000).toFixed(1)} s after SIGINT`);
    assert.match(current.stderr, /powering off/);
    assert.ok(await waitFor(() => !isAlive(qemuPid!), 5000), `QEMU ${qemuPid} is gone`);
    assert.equal(existsSync(DIR), false, 'the instance directory is removed');
    assert.equal(await sha256File(base), shaBefore, 'the image is not modified');

    // And ssh now says so.
    const gone = await cli(['ssh', NAME, '--', 'true']);
    assert.equal(gone.exitCode, 2);
    assert.match(gone.stderr, new RegExp(`no running instance named ${NAME}`));
  });
});
