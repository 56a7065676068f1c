// Validation of one image, as steps with cleanup (pipeline/runner): workspace -> inspect ->
// overlay -> seed -> boot -> wait-ssh -> wait-cloud-init -> checks -> shutdown. The image itself
// is only ever the read-only backing file of a throw-away overlay.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckDef } from '../config/schema.js';
import { AbortedError, GuestError, TimeoutError, isAbort } from '../errors.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps, timingsOf, type StepTiming } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { imageStatus, stripControl, summarizeChecks, type CheckResult, type ImageError, type ImageResult } from '../report/model.js';
import { run, type SpawnedProcess } from '../tools/exec.js';
import { sha256File } from '../tools/hash.js';
import { freePort } from '../tools/ports.js';
import { createOverlay, imageInfo } from '../tools/qemu-img.js';
import { detectBootFailure, Vm, type Accel } from '../tools/qemu.js';
import { CLOUD_INIT_ABSENT, cloudInitWaitScript, makeSeedIso } from '../tools/seed.js';
import { generateKey, waitForSsh, type SshTarget } from '../tools/ssh.js';
import { checksForVariant } from './checks.js';
import { compileCheck, type CheckVars } from './compile.js';
import type { ImageTarget } from './discover.js';
import { runChecks, type BatchExecutor } from './engine.js';
import { masterAttempt, ranOutput, sshBatchExecutor } from './guest-exec.js';
import { VALIDATION_USER, validationSeed } from './seed.js';

export interface ValidateImageOptions {
  /** The merged check list (built-in + user); narrowed to the image's variant here. */
  checks: readonly CheckDef[];
  bootTimeoutS: number;
  sshTimeoutS: number;
  accel: Accel;
  memoryMb: number;
  cpus: number;
  /** Parent of the per-image work directories (default: a fresh directory under $TMPDIR). */
  workDir?: string;
  noCleanup: boolean;
  /** Hash the image before and after and fail if it changed (and if it differs from its manifest). */
  checksum: boolean;
  /** Clean ACPI shutdown at the end instead of killing QEMU (slower; the overlay is discarded anyway). */
  cleanShutdown?: boolean;
  /** Copy serial.log, qemu.log and checks.log of the image here (kept even when work dirs are removed). */
  logsOutDir?: string;
  signal: AbortSignal;
  emit: EventSink;
  onCheck?(image: ImageTarget, result: CheckResult): void;
}

interface Ctx {
  target: ImageTarget;
  opts: ValidateImageOptions;
  dir: string;
  sockDir: string;
  logDir: string;
  format?: string;
  overlay?: string;
  seedIso?: string;
  ssh?: SshTarget;
  vm?: Vm;
  master?: SpawnedProcess;
  exec?: BatchExecutor;
  instanceId?: string;
  poweredOnAt?: number;
  sshReadyMs?: number;
  cloudInitDoneMs?: number;
  cloudInit?: { status: string; detail?: string };
  /** /proc/sys/kernel/tainted once cloud-init was done, before the checks. */
  taintBaseline?: string;
  checks?: CheckResult[];
  checksMs?: number;
  sha256Before?: string;
  sha256After?: string;
}

/** An image-level failure with a classification for the reports. */
class ImageFailure extends GuestError {
  constructor(
    readonly kind: string,
    message: string,
    readonly serialTail?: string,
  ) {
    super(message);
  }
}

async function serialTail(vm: Vm | undefined): Promise<string | undefined> {
  return vm ? stripControl(await vm.serialTail(30)) : undefined;
}

/** Throws an ImageFailure naming a panic / emergency shell / root mount failure / dead QEMU. */
async function assertGuestAlive(ctx: Ctx): Promise<void> {
  const vm = ctx.vm;
  if (!vm) return;
  const failure = detectBootFailure(await vm.serial());
  if (failure) throw new ImageFailure(failure.kind, `guest boot failed: ${failure.kind} (${failure.line})`, await serialTail(vm));
  if (!vm.isRunning()) throw new ImageFailure('qemu exited', 'QEMU exited unexpectedly', await serialTail(vm));
}

function remainingBootMs(ctx: Ctx): number {
  return ctx.opts.bootTimeoutS * 1000 - (Date.now() - (ctx.poweredOnAt ?? Date.now()));
}

const workspace: Step<Ctx> = {
  name: 'workspace',
  title: 'Work directory',
  async run(ctx) {
    await mkdir(ctx.dir, { recursive: true });
    await mkdir(ctx.logDir, { recursive: true });
    // Unix sockets (QMP, SSH control) need a short path.
    ctx.sockDir = await mkdtemp(join(tmpdir(), 'vxv-'));
  },
  async cleanup(ctx, rt) {
    if (ctx.opts.logsOutDir) {
      await mkdir(ctx.opts.logsOutDir, { recursive: true });
      for (const f of ['serial.log', 'qemu.log', 'checks.log']) {
        await copyFile(join(ctx.dir, f), join(ctx.opts.logsOutDir, f)).catch(() => undefined);
      }
    }
    if (ctx.sockDir) await rm(ctx.sockDir, { recursive: true, force: true });
    if (ctx.opts.noCleanup) rt.info(`kept ${ctx.dir}`);
    else await rm(ctx.dir, { recursive: true, force: true });
  },
};

const inspect: Step<Ctx> = {
  name: 'inspect',
  title: 'Inspect the image (qemu-img info/check)',
  async run(ctx, rt) {
    const { path } = ctx.target;
    let info;
    try {
      info = await imageInfo(path, { signal: rt.signal, logFile: rt.logFile });
    } catch (e) {
      throw new ImageFailure('image unreadable', e instanceof Error ? e.message : String(e));
    }
    ctx.format = info.format;
    if (info.format === 'qcow2') {
      const r = await run('qemu-img', ['check', '-q', '-U', path], { allowFailure: true, signal: rt.signal, logFile: rt.logFile, timeoutMs: 120_000 });
      if (r.exitCode !== 0) throw new ImageFailure('image unreadable', `qemu-img check ${path} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
    }
    if (ctx.opts.checksum) {
      ctx.sha256Before = await sha256File(path);
      const want = ctx.target.manifestSha256;
      if (want && want !== ctx.sha256Before) {
        throw new ImageFailure('image modified', `sha256 of ${path} is ${ctx.sha256Before}, but its manifest records ${want}`);
      }
    }
  },
};

const overlay: Step<Ctx> = {
  name: 'overlay',
  title: 'Throw-away overlay',
  async run(ctx, rt) {
    ctx.overlay = join(ctx.dir, 'overlay.qcow2');
    await createOverlay(ctx.target.path, ctx.overlay, { backingFormat: ctx.format, signal: rt.signal, logFile: rt.logFile });
  },
};

const seed: Step<Ctx> = {
  name: 'seed',
  title: 'cloud-init seed and ephemeral key',
  async run(ctx, rt) {
    const key = await generateKey(ctx.dir, { signal: rt.signal });
    const seedDir = join(ctx.dir, 'seed');
    await mkdir(seedDir, { recursive: true });
    const seedInput = validationSeed(key.publicKey);
    ctx.instanceId = seedInput.metaData['instance-id'];
    ctx.seedIso = await makeSeedIso(seedDir, seedInput, { signal: rt.signal, logFile: rt.logFile });
    ctx.ssh = { host: '127.0.0.1', port: 0, user: VALIDATION_USER, key };
  },
};

const boot: Step<Ctx> = {
  name: 'boot',
  title: 'Boot',
  async run(ctx, rt) {
    const port = await freePort();
    ctx.ssh = { ...ctx.ssh!, port };
    ctx.poweredOnAt = Date.now();
    ctx.vm = await Vm.start(
      {
        name: `${ctx.target.name}-validation`,
        accel: ctx.opts.accel,
        memoryMb: ctx.opts.memoryMb,
        cpus: ctx.opts.cpus,
        drives: [{ file: ctx.overlay!, format: 'qcow2' }],
        seedIso: ctx.seedIso,
        sshPort: port,
        serialLog: join(ctx.dir, 'serial.log'),
        qmpSocket: join(ctx.sockDir, 'qmp.sock'),
      },
      { signal: rt.signal, logFile: join(ctx.dir, 'qemu.log') },
    );
    rt.info(`QEMU (${ctx.opts.accel}) up, SSH forwarded from 127.0.0.1:${port}`);
  },
  async cleanup(ctx) {
    await ctx.vm?.kill();
  },
};

const waitSsh: Step<Ctx> = {
  name: 'wait-ssh',
  title: 'Wait for SSH',
  async run(ctx, rt) {
    try {
      await waitForSsh(ctx.ssh!, {
        timeoutMs: Math.max(1000, remainingBootMs(ctx)),
        intervalMs: 1000,
        signal: rt.signal,
        check: () => assertGuestAlive(ctx),
        // The first login is the master connection every check then goes through.
        attempt: masterAttempt(ctx.ssh!, ctx.sockDir, (m) => (ctx.master = m), { logFile: join(ctx.dir, 'ssh-master.log'), signal: rt.signal }),
      });
    } catch (e) {
      if (e instanceof TimeoutError) {
        throw new ImageFailure('ssh timeout', `${e.message}; the guest did not crash, it just did not answer (pass --boot-timeout to wait longer)`, await serialTail(ctx.vm));
      }
      throw e;
    }
    ctx.sshReadyMs = Date.now() - ctx.poweredOnAt!;
    rt.info(`SSH ready ${(ctx.sshReadyMs / 1000).toFixed(1)} s after power-on`);
    ctx.exec = sshBatchExecutor(ctx.ssh!, ctx.sockDir, join(ctx.dir, 'checks.log'));
  },
  async cleanup(ctx) {
    await ctx.master?.stop(1000);
  },
};

/** cloud-init's own result file: status done / degraded (recoverable errors) / error. */
export function parseCloudInitResult(text: string): { status: string; detail?: string } {
  try {
    const j = JSON.parse(text) as { v1?: { errors?: unknown[]; recoverable_errors?: Record<string, unknown[]> } };
    const v1 = j.v1;
    if (!v1) return { status: 'unknown', detail: 'no result.json' };
    if (v1.errors && v1.errors.length) return { status: 'error', detail: String(v1.errors[0]) };
    const rec = Object.entries(v1.recoverable_errors ?? {}).flatMap(([level, list]) => (list ?? []).map((m) => `${level}: ${String(m)}`));
    if (rec.length) return { status: 'degraded', detail: rec[0] };
    return { status: 'done' };
  } catch {
    return { status: 'unknown', detail: 'result.json is not JSON' };
  }
}

const waitCloudInit: Step<Ctx> = {
  name: 'wait-cloud-init',
  title: 'Wait for cloud-init',
  async run(ctx, rt) {
    const timeoutMs = Math.max(ctx.opts.sshTimeoutS * 1000, remainingBootMs(ctx));
    const script = cloudInitWaitScript(ctx.instanceId!);
    let out;
    try {
      // The kernel taint baseline for the checks comes back in the same round trip.
      const r = await ctx.exec!(
        [
          { script, sudo: false, timeoutMs },
          { script: 'cat /proc/sys/kernel/tainted', sudo: false, timeoutMs: 30_000 },
        ],
        { signal: rt.signal },
      );
      out = ranOutput(r, 0);
      const taint = r.outputs[1];
      if (taint && 'exitCode' in taint && taint.exitCode === 0) ctx.taintBaseline = taint.stdout.trim();
    } catch (e) {
      if (isAbort(e)) throw e;
      await assertGuestAlive(ctx);
      throw new ImageFailure('ssh failed', e instanceof Error ? e.message : String(e), await serialTail(ctx.vm));
    }
    if (out.timedOut) {
      await assertGuestAlive(ctx);
      ctx.cloudInit = { status: 'timeout', detail: `not done after ${Math.round(timeoutMs / 1000)} s` };
      rt.warn(`cloud-init not done after ${Math.round(timeoutMs / 1000)} s; running the checks anyway`);
      return;
    }
    ctx.cloudInitDoneMs = Date.now() - ctx.poweredOnAt!;
    ctx.cloudInit = out.exitCode === CLOUD_INIT_ABSENT ? { status: 'absent' } : parseCloudInitResult(out.stdout);
    rt.info(`cloud-init ${ctx.cloudInit.status} ${(ctx.cloudInitDoneMs / 1000).toFixed(1)} s after power-on`);
  },
};

const checksStep: Step<Ctx> = {
  name: 'checks',
  title: 'Checks',
  async run(ctx, rt) {
    const exec = ctx.exec!;
    const vars: CheckVars = { version: ctx.target.version, variant: ctx.target.variant, name: ctx.target.name };
    // Read with the cloud-init wait; without it kernel-log checks judge the log alone.
    if (ctx.taintBaseline !== undefined) vars.taint_baseline = ctx.taintBaseline;
    else rt.warn('could not read the kernel taint baseline (/proc/sys/kernel/tainted) with the cloud-init wait');
    const compiled = checksForVariant(ctx.opts.checks, ctx.target.variant).map((c) => compileCheck(c, vars));
    const t0 = Date.now();
    const { results, fatal, batches } = await runChecks(compiled, exec, {
      defaultTimeoutMs: ctx.opts.sshTimeoutS * 1000,
      signal: rt.signal,
      health: () => assertGuestAlive(ctx),
      onResult: (r, i, n) => {
        rt.info(`[${i + 1}/${n}] ${r.status === 'passed' ? 'ok  ' : r.status.toUpperCase()} ${r.id}${r.status === 'passed' ? '' : `: ${r.message}`}`);
        ctx.opts.onCheck?.(ctx.target, r);
      },
    });
    ctx.checksMs = Date.now() - t0;
    rt.info(`${results.length} checks in ${batches} round trips, ${(ctx.checksMs / 1000).toFixed(1)} s`);
    ctx.checks = results;
    if (fatal !== undefined) throw fatal instanceof ImageFailure ? fatal : new ImageFailure('ssh failed', String(fatal), await serialTail(ctx.vm));
  },
};

const shutdown: Step<Ctx> = {
  name: 'shutdown',
  title: 'Power off',
  async run(ctx, rt) {
    await ctx.master?.stop(1000);
    if (ctx.opts.cleanShutdown) {
      const clean = await ctx.vm!.shutdown(60_000);
      if (!clean) rt.warn('the guest did not power off within 60 s: killed');
    } else {
      await ctx.vm!.kill();
    }
  },
};

export const VALIDATE_STEPS: ReadonlyArray<Step<Ctx>> = [workspace, inspect, overlay, seed, boot, waitSsh, waitCloudInit, checksStep, shutdown];

function classify(err: unknown, failedStep: string | undefined): Omit<ImageError, 'serialTail'> & { serialTail?: string } {
  const step = failedStep ?? 'unknown';
  if (err instanceof ImageFailure) return { kind: err.kind, step, message: err.message, serialTail: err.serialTail };
  if (err instanceof AbortedError) return { kind: 'interrupted', step, message: err.message };
  if (err instanceof TimeoutError) return { kind: 'timeout', step, message: err.message };
  if (step === 'boot') return { kind: 'qemu exited', step, message: err instanceof Error ? err.message : String(err) };
  return { kind: 'internal', step, message: err instanceof Error ? err.message : String(err) };
}

/** Validates one image. Never throws for a failing image (the result says why); rethrows aborts. */
export async function validateImage(target: ImageTarget, opts: ValidateImageOptions): Promise<ImageResult> {
  const startedAt = new Date();
  const parent = opts.workDir ?? tmpdir();
  await mkdir(parent, { recursive: true });
  const dir = await mkdtemp(join(parent, `${target.name}.`));
  const ctx: Ctx = { target, opts, dir, sockDir: '', logDir: join(dir, 'steps') };
  const emit: EventSink = (ev) => {
    if ('step' in ev && ev.step !== undefined) opts.emit({ ...ev, step: `${target.name}:${ev.step}`, ...('title' in ev ? { title: `${target.name}: ${ev.title}` } : {}) } as typeof ev);
    else opts.emit(ev);
  };
  let timings: StepTiming[] = [];
  let error: ImageError | undefined;
  try {
    timings = await runSteps(VALIDATE_STEPS, ctx, { signal: opts.signal, logDir: ctx.logDir, emit });
  } catch (e) {
    timings = timingsOf(e) ?? [];
    if (opts.signal.aborted) throw e instanceof AbortedError ? e : new AbortedError('interrupted', { cause: e });
    const failed = timings.find((t) => t.status === 'failed')?.step;
    const c = classify(e, failed);
    error = { kind: c.kind, step: c.step, message: c.message, ...(c.serialTail ? { serialTail: c.serialTail } : {}) };
  }
  if (opts.checksum && ctx.sha256Before) {
    ctx.sha256After = await sha256File(target.path);
    if (ctx.sha256After !== ctx.sha256Before && !error) {
      error = { kind: 'image modified', step: 'checksum', message: `the image changed during validation: sha256 ${ctx.sha256Before} -> ${ctx.sha256After}` };
    }
  }
  const checks = ctx.checks ?? [];
  const result: ImageResult = {
    name: target.name,
    path: target.path,
    variant: target.variant,
    version: target.version,
    identitySource: target.identitySource,
    status: imageStatus(checks, error),
    accel: opts.accel,
    startedAt: startedAt.toISOString(),
    timings: {
      sshReadyMs: ctx.sshReadyMs ?? null,
      cloudInitDoneMs: ctx.cloudInitDoneMs ?? null,
      checksMs: ctx.checksMs ?? null,
      totalMs: Date.now() - startedAt.getTime(),
      steps: timings,
    },
    cloudInit: ctx.cloudInit ?? null,
    ...(ctx.sha256Before && ctx.sha256After ? { sha256: { before: ctx.sha256Before, after: ctx.sha256After } } : {}),
    ...(error ? { error } : {}),
    checks,
    summary: summarizeChecks(checks),
    ...(opts.noCleanup ? { logDir: dir } : {}),
  };
  if (opts.noCleanup) await writeFile(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`).catch(() => undefined);
  return result;
}
