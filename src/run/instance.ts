// One `vexfs-image run`, as steps on the runner: the VM session (overlay, access seed, boot, wait
// for SSH and cloud-init) with run's own steps between them (record the instance, pin the host
// key and say it is ready, stay in the foreground). On the way out the guest is powered off (ACPI,
// then kill) and the instance directory removed. The image is only the overlay's backing file.
import { rmSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, GuestError } from '../errors.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { stripControl } from '../report/model.js';
import { checkImageChain } from '../tools/qemu-img.js';
import { accessSeedStep, bootStep, newSession, overlayStep, waitCloudInitStep, waitSshStep } from '../vm/index.js';
import { type RunContext, type RunInstanceOptions, type RunOutcome } from './context.js';
import { hostnameFor } from './names.js';
import { runSeed } from './seed.js';
import { claimInstance, instancesRoot, processStartTime, type InstanceState } from './state.js';
import { foregroundStep } from './steps/foreground.js';
import { pinHostKeyStep } from './steps/pin-host-key.js';
import { recordStateStep } from './steps/record-state.js';

export { RUN_DEFAULTS, type RunInstanceOptions, type RunOutcome } from './context.js';

export const RUN_STEPS: ReadonlyArray<Step<RunContext>> = [
  overlayStep,
  accessSeedStep,
  bootStep,
  recordStateStep,
  waitSshStep,
  waitCloudInitStep,
  pinHostKeyStep,
  foregroundStep,
];

function stamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

export async function runInstance(o: RunInstanceOptions): Promise<RunOutcome> {
  const info = (m: string): void => o.onInfo?.(m);
  const warn = (m: string): void => (o.onWarn ?? info)(m);
  // Before anything is created: an unreadable image, or one whose backing chain leaves its
  // directory and the cache, is a usage error (exit 2).
  const { format } = await checkImageChain(o.image, { cacheDir: o.cacheDir }, { signal: o.signal });

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
  // A second Ctrl-C exits at once (cli/main.ts): QEMU dies with us (pdeathsig), this removes the rest.
  const removeOnExit = (): void => {
    if (!o.noCleanup) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', removeOnExit);
  info(`booting ${o.image} as ${o.name} (instance directory ${dir})`);

  const session = newSession({
    name: `${o.name}-run`,
    profile: o.profile,
    dir,
    cacheDir: o.cacheDir,
    user: o.user,
    seed: (publicKey) => runSeed(publicKey, { user: o.user, hostname: hostnameFor(o.name) }),
    bootTimeoutMs: o.bootTimeoutS * 1000,
    cloudInitMinMs: o.sshTimeoutS * 1000,
    timeoutHint: 'pass --boot-timeout to wait longer',
    network: o.network ? 'full' : 'isolated',
    cloudInitErrors: 'record',
    powerOff: 'kill',
    // An interrupt powers the guest off (foreground step), it does not SIGTERM QEMU.
    killOnAbort: false,
    qemuLog: join(dir, 'qemu.log'),
  });
  session.backing = { path: o.image, format };
  const ctx: RunContext = { o, dir, state, session, ready: false };
  const emit: EventSink = (ev) => {
    if (ev.type === 'info') info(ev.message);
    else if (ev.type === 'warn') warn(ev.message);
  };
  try {
    await runSteps(RUN_STEPS, ctx, { signal: o.signal, logDir: join(dir, 'steps'), emit });
    if (!ctx.outcome) throw new Error('run ended without an outcome');
    return ctx.outcome;
  } catch (e) {
    // Not the aborted command's own message (a long ssh command line): say what was interrupted.
    if (o.signal.aborted || e instanceof AbortedError) throw new AbortedError(ctx.ready ? 'interrupted' : `interrupted while ${o.name} was starting`, { cause: e });
    throw session.poweredOnAt !== undefined ? await withLogs(e, ctx) : e;
  } finally {
    if (o.noCleanup) info(`kept the instance directory ${dir} (overlay, logs, key; the next run --name ${o.name} replaces it)`);
    else await rm(dir, { recursive: true, force: true });
    process.off('exit', removeOnExit);
  }
}

/** The error, with the serial log's tail and where the logs are kept (copied out unless --no-cleanup). */
async function withLogs(e: unknown, ctx: RunContext): Promise<GuestError> {
  const { o, dir, session } = ctx;
  // Without a Vm, QEMU failed at start-up and the message already holds its log's tail.
  const tail = session.vm ? stripControl(await session.vm.serialTail(30)).trim() : '';
  let where = dir;
  if (!o.noCleanup) {
    where = await mkdtemp(join(tmpdir(), `vexfs-image-run-${o.name}-${stamp()}-`));
    for (const f of ['serial.log', 'qemu.log']) await copyFile(join(dir, f), join(where, f)).catch(() => undefined);
  }
  const message = e instanceof Error ? e.message.split('\n--- last serial lines ---')[0]! : String(e);
  const what = ctx.ready ? `${o.name} stopped` : `${o.name} did not come up`;
  return new GuestError(`${what}: ${message}${tail ? `\n--- last serial lines ---\n${tail}` : ''}`, {
    cause: e,
    hint: `serial log kept at ${join(where, 'serial.log')}, QEMU's log at ${join(where, 'qemu.log')}`,
  });
}
