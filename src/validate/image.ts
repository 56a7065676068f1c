// Validation of one image, as steps on the runner: workspace -> inspect -> the VM session
// (overlay, access seed, boot, wait for SSH, wait for cloud-init) -> checks -> power off. The
// image itself is only ever the read-only backing file of a throw-away overlay.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortedError, GuestError, TimeoutError } from '../errors.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps, timingsOf, type StepTiming } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { imageStatus, stripControl, summarizeChecks, type ImageError, type ImageResult } from '../report/model.js';
import { sha256File } from '../tools/hash.js';
import { makeOwnedTempDir, removeOrphans } from '../tools/owned-dir.js';
import { VmExitedError } from '../tools/qemu.js';
import { accessSeedStep, bootStep, newSession, overlayStep, powerOffStep, waitCloudInitStep, waitSshStep } from '../vm/index.js';
import { ImageFailure, type ValidateContext, type ValidateImageOptions } from './context.js';
import type { ImageTarget } from './discover.js';
import { HOSTILE_SEED_VARIANTS, VALIDATION_USER, validationSeed } from './seed.js';
import { checksStep } from './steps/checks.js';
import { inspectStep } from './steps/inspect.js';
import { workspaceStep } from './steps/workspace.js';

export type { ValidateImageOptions } from './context.js';

/** Validation work directories: `vexfs-validate.<image>.XXXXXX` under --work-dir or $TMPDIR. */
export const WORK_DIR_PREFIX = 'vexfs-validate.';

export const VALIDATE_STEPS: ReadonlyArray<Step<ValidateContext>> = [
  workspaceStep,
  inspectStep,
  overlayStep,
  accessSeedStep,
  bootStep,
  waitSshStep,
  waitCloudInitStep,
  checksStep,
  powerOffStep,
];

/** The report's classification of what stopped an image's validation. */
export function classify(err: unknown, failedStep: string | undefined, serialTail: string | undefined): ImageError {
  const step = failedStep ?? 'unknown';
  const message = err instanceof Error ? err.message : String(err);
  const withTail = (e: ImageError, tail: string | undefined): ImageError => (tail ? { ...e, serialTail: stripControl(tail) } : e);
  if (err instanceof ImageFailure) return withTail({ kind: err.kind, step, message }, err.serialTail);
  if (err instanceof VmExitedError) return withTail({ kind: err.kind, step, message: err.message.split('\n')[0]! }, err.serialTail ?? serialTail);
  if (err instanceof AbortedError) return { kind: 'interrupted', step, message };
  if (err instanceof TimeoutError) return step === 'wait-ssh' ? withTail({ kind: 'ssh timeout', step, message: `${message} (pass --boot-timeout to wait longer)` }, serialTail) : { kind: 'timeout', step, message };
  if (step === 'boot') return { kind: 'qemu exited', step, message };
  if (step === 'wait-cloud-init' && err instanceof GuestError) return withTail({ kind: 'ssh failed', step, message }, serialTail);
  return { kind: 'internal', step, message };
}

function newValidateContext(target: ImageTarget, opts: ValidateImageOptions, dir: string): ValidateContext {
  const session = newSession({
    name: `${target.name}-validation`,
    profile: opts.profile,
    dir,
    ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}),
    user: VALIDATION_USER,
    seed: (publicKey) => validationSeed(publicKey, { hostile: HOSTILE_SEED_VARIANTS.has(target.variant) }),
    bootTimeoutMs: opts.bootTimeoutS * 1000,
    cloudInitMinMs: opts.sshTimeoutS * 1000,
    timeoutHint: 'pass --boot-timeout to wait longer',
    network: opts.network ? 'full' : 'isolated',
    master: true,
    cloudInitErrors: 'record',
    powerOff: opts.cleanShutdown ? { acpiTimeoutMs: 60_000 } : 'kill',
    killOnAbort: true,
    qemuLog: join(dir, 'qemu.log'),
  });
  return { target, opts, dir, logDir: join(dir, 'steps'), session };
}

/** Validates one image. Never throws for a failing image (the result says why); rethrows aborts. */
export async function validateImage(target: ImageTarget, opts: ValidateImageOptions): Promise<ImageResult> {
  const startedAt = new Date();
  const parent = opts.workDir ?? tmpdir();
  // What a killed validation left (its key, overlay and seed) goes first, and is reported.
  for (const o of await removeOrphans(parent, (n) => n.startsWith(WORK_DIR_PREFIX))) {
    opts.emit({ type: 'warn', message: `removed ${o.dir}: left by a validation that was killed (pid ${o.pid} is gone)` });
  }
  const row = opts.profileLabel ? `${target.name}.${opts.profileLabel}` : target.name;
  // 0700: it holds the ephemeral key.
  const dir = await makeOwnedTempDir(parent, `${WORK_DIR_PREFIX}${row}.`);
  const ctx = newValidateContext(target, opts, dir);
  const emit: EventSink = (ev) => {
    if ('step' in ev && ev.step !== undefined) opts.emit({ ...ev, step: `${row}:${ev.step}`, ...('title' in ev ? { title: `${row}: ${ev.title}` } : {}) } as typeof ev);
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
    error = classify(e, failed, ctx.session.vm ? await ctx.session.vm.serialTail(30) : undefined);
  }
  if (opts.checksum && ctx.sha256Before) {
    ctx.sha256After = await sha256File(target.path);
    if (ctx.sha256After !== ctx.sha256Before && !error) {
      error = { kind: 'image modified', step: 'checksum', message: `the image changed during validation: sha256 ${ctx.sha256Before} -> ${ctx.sha256After}` };
    }
  }
  const s = ctx.session;
  const checks = ctx.checks ?? [];
  const result: ImageResult = {
    name: target.name,
    path: target.path,
    variant: target.variant,
    version: target.version,
    identitySource: target.identitySource,
    architecture: target.arch,
    status: imageStatus(checks, error),
    accel: opts.profile.accel,
    ...(opts.profileLabel ? { profile: opts.profileLabel } : {}),
    startedAt: startedAt.toISOString(),
    timings: {
      sshReadyMs: s.sshReadyMs ?? null,
      cloudInitDoneMs: s.cloudInitDoneMs ?? null,
      checksMs: ctx.checksMs ?? null,
      totalMs: Date.now() - startedAt.getTime(),
      steps: timings,
    },
    cloudInit: s.cloudInit ?? null,
    ...(ctx.sha256Before && ctx.sha256After ? { sha256: { before: ctx.sha256Before, after: ctx.sha256After } } : {}),
    ...(error ? { error } : {}),
    checks,
    summary: summarizeChecks(checks),
    ...(opts.noCleanup ? { logDir: dir } : {}),
  };
  if (opts.noCleanup) await writeFile(join(dir, 'result.json'), `${JSON.stringify(result, null, 2)}\n`).catch(() => undefined);
  return result;
}
