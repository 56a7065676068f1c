// Runs steps in order with guaranteed reverse-order cleanup and per-step wall times.
import { mkdir, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortedError } from '../errors.js';
import type { EventSink } from './events.js';
import type { Step, StepRuntime } from './step.js';

export interface StepTiming {
  step: string;
  ms: number;
  status: 'ok' | 'failed' | 'skipped';
  /** With keepGoing: why the step failed (the runner did not throw it). */
  error?: unknown;
}

export interface RunOptions {
  signal: AbortSignal;
  logDir: string;
  emit: EventSink;
  /**
   * Go on after a failed step (an abort still stops the run): the following steps run unless
   * their skip() says otherwise, every failure is reported with a step-fail event, and
   * runSteps returns the timings, each failed one with its error, instead of throwing. For
   * pipelines of independent stages (ci: one failed variant must not hide the others' results).
   */
  keepGoing?: boolean;
}

/** Step log writes still in flight: runSteps waits for them, so logs are complete when it returns. */
type LogWrites = Set<Promise<void>>;

function runtimeFor(step: Step<unknown>, index: number, opts: RunOptions, writes: LogWrites, signal = opts.signal): StepRuntime {
  const logFile = join(opts.logDir, `${String(index + 1).padStart(2, '0')}-${step.name}.log`);
  // Appends are chained so that lines land in the order they were logged.
  let tail: Promise<void> = Promise.resolve();
  const append = (line: string): void => {
    const t = (tail = tail.then(() => appendFile(logFile, line)).catch(() => undefined));
    writes.add(t);
    void t.then(() => writes.delete(t));
  };
  return {
    signal,
    logFile,
    emit: opts.emit,
    info: (message) => {
      opts.emit({ type: 'info', message, step: step.name });
      append(`[info] ${message}\n`);
    },
    warn: (message) => {
      opts.emit({ type: 'warn', message, step: step.name });
      append(`[warn] ${message}\n`);
    },
  };
}

/**
 * Runs the steps. Returns the timings on success; on failure or abort, every started step has
 * been cleaned up and the original error is rethrown (an abort as AbortedError). With keepGoing,
 * a failed step does not stop the run and is returned in the timings instead. Cleanup errors
 * are reported as events and never replace the original error.
 */
export async function runSteps<C>(steps: ReadonlyArray<Step<C>>, ctx: C, opts: RunOptions): Promise<StepTiming[]> {
  await mkdir(opts.logDir, { recursive: true });
  const writes: LogWrites = new Set();
  const timings: StepTiming[] = [];
  const started: Array<{ step: Step<C>; index: number }> = [];
  let failure: unknown;

  for (const [index, step] of steps.entries()) {
    if (opts.signal.aborted) {
      failure = new AbortedError();
      break;
    }
    const rt = runtimeFor(step as Step<unknown>, index, opts, writes);
    let skipReason: string | undefined;
    try {
      skipReason = step.skip?.(ctx);
    } catch (e) {
      // A throwing skip() must not bypass the cleanup of the steps already started.
      opts.emit({ type: 'step-fail', step: step.name, ms: 0, error: e });
      if (opts.keepGoing) {
        timings.push({ step: step.name, ms: 0, status: 'failed', error: e });
        continue;
      }
      timings.push({ step: step.name, ms: 0, status: 'failed' });
      failure = e;
      break;
    }
    if (skipReason) {
      opts.emit({ type: 'step-skip', step: step.name, reason: skipReason });
      timings.push({ step: step.name, ms: 0, status: 'skipped' });
      continue;
    }
    // Registered before run(): a step that fails half-way still gets its cleanup.
    started.push({ step, index });
    opts.emit({ type: 'step-start', step: step.name, title: step.title, index, total: steps.length });
    const t0 = Date.now();
    try {
      await step.run(ctx, rt);
      const ms = Date.now() - t0;
      timings.push({ step: step.name, ms, status: 'ok' });
      opts.emit({ type: 'step-end', step: step.name, ms });
    } catch (e) {
      const ms = Date.now() - t0;
      const err = opts.signal.aborted && !(e instanceof AbortedError) ? new AbortedError('interrupted', { cause: e }) : e;
      opts.emit({ type: 'step-fail', step: step.name, ms, error: err });
      if (opts.keepGoing && !(err instanceof AbortedError)) {
        timings.push({ step: step.name, ms, status: 'failed', error: err });
        continue;
      }
      timings.push({ step: step.name, ms, status: 'failed' });
      failure = err;
      break;
    }
  }

  // Cleanup gets a signal of its own: after an abort, the run's signal is already aborted and
  // would make every exec() in a cleanup refuse to start (leaving VMs and mounts behind).
  const cleanupSignal = new AbortController().signal;
  for (const { step, index } of started.reverse()) {
    if (!step.cleanup) continue;
    // Log lines still being appended would race a cleanup that removes their directory (rm -r
    // then fails with ENOTEMPTY, and the directory stays): let them land first.
    await Promise.all(writes);
    try {
      await step.cleanup(ctx, runtimeFor(step as Step<unknown>, index, opts, writes, cleanupSignal));
    } catch (e) {
      opts.emit({ type: 'cleanup-error', step: step.name, error: e });
    }
  }
  await Promise.all(writes);

  if (failure !== undefined) {
    if (failure instanceof Error) Object.assign(failure, { timings });
    throw failure;
  }
  return timings;
}

/** Timings attached to an error thrown by runSteps (for manifests and reports of failed runs). */
export function timingsOf(err: unknown): StepTiming[] | undefined {
  return err instanceof Error ? (err as Error & { timings?: StepTiming[] }).timings : undefined;
}
