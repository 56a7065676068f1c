// One `vexfs-image run`: boot an image on a throw-away overlay with a fresh seed and key, wait
// for SSH (and cloud-init), record the instance, then stay in the foreground until the guest
// powers off or we are interrupted; on the way out power it off (ACPI, then kill) and remove the
// instance directory. The image is only ever the read-only backing file of the overlay.
import { rmSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, GuestError, TimeoutError } from '../errors.js';
import { stripControl } from '../report/model.js';
import { run } from '../tools/exec.js';
import { which } from '../tools/host-tools.js';
import { freePort } from '../tools/ports.js';
import { createOverlay, imageInfo } from '../tools/qemu-img.js';
import { detectBootFailure, Vm, type Accel } from '../tools/qemu.js';
import { CLOUD_INIT_ABSENT, cloudInitWaitScript, makeSeedIso } from '../tools/seed.js';
import { generateKey, sshExec, waitForSsh, type SshTarget } from '../tools/ssh.js';
import { instanceSshArgs, LOOPBACK } from './connect.js';
import { hostnameFor } from './names.js';
import { runSeed } from './seed.js';
import { claimInstance, instancesRoot, processStartTime, writeState, type InstanceState } from './state.js';

export const RUN_DEFAULTS = Object.freeze({
  memoryMb: 2048,
  cpus: 2,
  bootTimeoutS: 300,
  sshTimeoutS: 60,
  /** How long the guest gets to power off after ACPI powerdown before QEMU is killed. */
  shutdownTimeoutS: 30,
});

export interface RunInstanceOptions {
  /** Absolute path of the image (never written). */
  image: string;
  name: string;
  user: string;
  accel: Accel;
  memoryMb: number;
  cpus: number;
  bootTimeoutS: number;
  sshTimeoutS: number;
  shutdownTimeoutS?: number;
  /** Parent of the instances directory (defaultCacheDir()). */
  cacheDir: string;
  /** Keep the instance directory (overlay, logs, key) after exit. */
  noCleanup: boolean;
  signal: AbortSignal;
  onInfo?(message: string): void;
  onWarn?(message: string): void;
  /** SSH works: the caller prints how to connect. */
  onReady(state: InstanceState, dir: string): void;
}

export interface RunOutcome {
  state: InstanceState;
  /** The guest powered itself off (QEMU exited 0). */
  poweredOff: true;
  sshReadyMs: number;
}

/** Resolves when the signal is aborted. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** `setpriv --pdeathsig KILL`: QEMU dies with us even when we are SIGKILLed (util-linux, Linux only). */
function dieWithParentPrefix(): string[] {
  const setpriv = process.platform === 'linux' ? which('setpriv') : undefined;
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function runInstance(o: RunInstanceOptions): Promise<RunOutcome> {
  const info = (m: string): void => o.onInfo?.(m);
  const warn = (m: string): void => (o.onWarn ?? info)(m);
  const { signal } = o;
  // Before anything is created: an unreadable image is a usage error (exit 2).
  const format = (await imageInfo(o.image, { signal })).format;

  const root = instancesRoot(o.cacheDir);
  const dir = join(root, o.name);
  const state: InstanceState = {
    name: o.name,
    image: o.image,
    pid: process.pid,
    pidStartTime: processStartTime(process.pid),
    user: o.user,
    key: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    serialLog: join(dir, 'serial.log'),
    startedAt: new Date().toISOString(),
    status: 'starting',
  };
  await claimInstance(root, state, {
    onStale: (d, s) => info(`removed the stale instance directory ${d}${s ? ` (its run, pid ${s.pid}, is gone)` : ''}`),
  });
  // A second Ctrl-C exits at once (pipeline/abort.ts): exec's exit hook kills QEMU, this removes the rest.
  const removeOnExit = (): void => {
    if (!o.noCleanup) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', removeOnExit);
  info(`booting ${o.image} as ${o.name} (instance directory ${dir})`);

  // The QMP socket lives in the instance directory (removed with it, even after a SIGKILL), unless
  // that path is too long for a unix socket (108 bytes): then in a short temporary directory.
  let sockDir: string | undefined;
  let vm: Vm | undefined;
  let ready = false;
  let poweredOnAt = 0;
  let qemuStarted = false;
  try {
    const qmpSocket = join(dir, 'qmp.sock').length < 100 ? join(dir, 'qmp.sock') : join((sockDir = await mkdtemp(join(tmpdir(), 'vxr-'))), 'qmp.sock');
    const overlay = join(dir, 'overlay.qcow2');
    await createOverlay(o.image, overlay, { backingFormat: format, signal });
    const key = await generateKey(dir, { signal });
    await writeFile(state.knownHosts, '', { mode: 0o600 });
    const seedDir = join(dir, 'seed');
    await mkdir(seedDir, { recursive: true });
    const seed = runSeed(key.publicKey, { user: o.user, hostname: hostnameFor(o.name) });
    const instanceId = seed.metaData['instance-id'];
    const seedIso = await makeSeedIso(seedDir, seed, { signal, logFile: join(dir, 'seed.log') });

    const port = await freePort();
    poweredOnAt = Date.now();
    qemuStarted = true;
    // No signal here: an interrupt powers the guest off below, it does not SIGTERM QEMU.
    vm = await Vm.start(
      {
        name: `${o.name}-run`,
        accel: o.accel,
        memoryMb: o.memoryMb,
        cpus: o.cpus,
        drives: [{ file: overlay, format: 'qcow2' }],
        seedIso,
        sshPort: port,
        serialLog: state.serialLog,
        qmpSocket,
      },
      { logFile: join(dir, 'qemu.log'), prefix: dieWithParentPrefix() },
    );
    state.qemuPid = vm.proc.pid;
    state.sshPort = port;
    await writeState(dir, state);
    info(`QEMU (${o.accel}, ${o.memoryMb} MiB, ${o.cpus} CPUs) pid ${vm.proc.pid}, SSH forwarded from ${LOOPBACK}:${port}; serial log ${state.serialLog}`);

    const target: SshTarget = { host: LOOPBACK, port, user: o.user, key };
    const alive = async (): Promise<void> => {
      const failure = detectBootFailure(await vm!.serial());
      if (failure) throw new GuestError(`guest boot failed: ${failure.kind} (${failure.line})`);
      if (!vm!.isRunning()) throw new GuestError('QEMU exited during boot');
    };
    const remainingMs = (): number => o.bootTimeoutS * 1000 - (Date.now() - poweredOnAt);
    try {
      await waitForSsh(target, { timeoutMs: Math.max(1000, remainingMs()), intervalMs: 1000, signal, check: alive });
    } catch (e) {
      if (e instanceof TimeoutError) {
        throw new GuestError(`${e.message}; the guest did not crash, it just did not answer (pass --boot-timeout to wait longer)`);
      }
      throw e;
    }
    const sshReadyMs = Date.now() - poweredOnAt;
    info(`SSH up ${(sshReadyMs / 1000).toFixed(1)} s after power-on; waiting for cloud-init`);

    // cloud-init replaces the image's host keys before it finishes: wait for it, then record the
    // guest's key in the instance's known_hosts (the first connection that checks it).
    const cloudInitMs = Math.max(o.sshTimeoutS * 1000, remainingMs());
    try {
      // An image without cloud-init (exit CLOUD_INIT_ABSENT) keeps its host keys: nothing to wait for.
      const r = await sshExec(target, cloudInitWaitScript(instanceId), { signal, timeoutMs: cloudInitMs, allowFailure: true });
      if (r.exitCode !== 0 && r.exitCode !== CLOUD_INIT_ABSENT) throw new GuestError(`waiting for cloud-init over SSH failed (exit ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
      info(`cloud-init done ${((Date.now() - poweredOnAt) / 1000).toFixed(1)} s after power-on`);
    } catch (e) {
      if (!(e instanceof TimeoutError)) throw e;
      await alive();
      warn(`cloud-init not done after ${Math.round(cloudInitMs / 1000)} s; the instance may still be configuring itself`);
    }
    await run('ssh', instanceSshArgs(state, ['true']), { signal, timeoutMs: o.sshTimeoutS * 1000 });

    state.status = 'ready';
    state.readyAt = new Date().toISOString();
    await writeState(dir, state);
    ready = true;
    info(`${o.name} ready ${((Date.now() - poweredOnAt) / 1000).toFixed(1)} s after power-on`);
    o.onReady(state, dir);

    const exited = vm.proc.exited.then((r) => ({ how: 'exited' as const, ...r }));
    const end = await Promise.race([exited, aborted(signal).then(() => ({ how: 'aborted' as const }))]);
    if (end.how === 'exited') {
      if (end.exitCode === 0) {
        info(`${o.name}: the guest powered off`);
        return { state, poweredOff: true, sshReadyMs };
      }
      throw new GuestError(`QEMU exited unexpectedly (${end.signal ? `killed by ${end.signal}` : `exit code ${end.exitCode}`})`);
    }
    state.status = 'stopping';
    await writeState(dir, state).catch(() => undefined);
    const timeoutS = o.shutdownTimeoutS ?? RUN_DEFAULTS.shutdownTimeoutS;
    info(`${o.name}: powering off (ACPI, up to ${timeoutS} s)`);
    const clean = await vm.shutdown(timeoutS * 1000);
    if (!clean) warn(`${o.name}: the guest did not power off within ${timeoutS} s: killed QEMU`);
    else info(`${o.name}: powered off`);
    throw new AbortedError();
  } catch (e) {
    // Not the aborted command's own message (a long ssh command line): say what was interrupted.
    if (signal.aborted || e instanceof AbortedError) throw new AbortedError(ready ? 'interrupted' : `interrupted while ${o.name} was starting`, { cause: e });
    throw qemuStarted ? await withLogs(e, o, dir, vm, ready) : e;
  } finally {
    await vm?.kill();
    if (sockDir) await rm(sockDir, { recursive: true, force: true });
    if (o.noCleanup) info(`kept the instance directory ${dir} (overlay, logs, key; the next run --name ${o.name} replaces it)`);
    else await rm(dir, { recursive: true, force: true });
    process.off('exit', removeOnExit);
  }
}

/** The error, with the serial log's tail and where the logs are kept (copied out unless --no-cleanup). */
async function withLogs(e: unknown, o: RunInstanceOptions, dir: string, vm: Vm | undefined, ready: boolean): Promise<GuestError> {
  // Without a Vm, QEMU failed at start-up and the message already holds its log's tail.
  const tail = vm ? stripControl(await vm.serialTail(30)).trim() : '';
  let where = dir;
  if (!o.noCleanup) {
    where = await mkdtemp(join(tmpdir(), `vexfs-image-run-${o.name}-${stamp()}-`));
    for (const f of ['serial.log', 'qemu.log']) await copyFile(join(dir, f), join(where, f)).catch(() => undefined);
  }
  const message = e instanceof Error ? e.message : String(e);
  const what = ready ? `${o.name} stopped` : `${o.name} did not come up`;
  return new GuestError(`${what}: ${message}${tail ? `\n--- last serial lines ---\n${tail}` : ''}`, {
    cause: e,
    hint: `serial log kept at ${join(where, 'serial.log')}, QEMU's log at ${join(where, 'qemu.log')}`,
  });
}
