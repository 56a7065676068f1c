// The check engine: runs compiled checks in list order through a BatchExecutor (SSH in real
// runs, a fake in unit tests), honouring needs, retry and per-attempt timeouts. It never throws
// for a failing check; a broken transport (the guest died) marks the rest as errors.
//
// Under TCG every SSH round trip and every sudo costs real time, so consecutive checks are sent
// together in one batch. A check may need a check of its own batch when the needed check's
// verdict is its exit code alone (passExit): the guest runner then skips it exactly when the host
// would. A batch ends before a check that needs a batch check whose verdict needs the host (its
// output expectations) and after a check with retry (it may have to be re-run before anything
// after it), so batching never changes what runs or in which order.
import { AbortedError, GuestError, isAbort } from '../errors.js';
import { stripControl, type CheckResult } from '../report/model.js';
import type { CompiledCheck, GuestOutput, Verdict } from './compile.js';

export interface BatchItem {
  script: string;
  sudo: boolean;
  timeoutMs: number;
  /** The exit code with which the item passes, when its verdict is that alone. */
  passExit?: number;
  /** Indices of earlier items of the batch that must pass (by passExit) for it to run. */
  needs?: number[];
}

export interface BatchOutput extends GuestOutput {
  durationMs: number;
  timedOut: boolean;
}

/** An item the guest did not run because the earlier item skippedFor did not pass. */
export interface GuestSkip {
  skippedFor: number;
}

export type ItemOutput = BatchOutput | GuestSkip;

export interface BatchResult {
  /** One entry per item, in order; undefined when the item produced no result (transport broke). */
  outputs: Array<ItemOutput | undefined>;
  /** Why some or all items have no result. */
  transportError?: Error;
}

export type BatchExecutor = (items: readonly BatchItem[], opts: { signal?: AbortSignal }) => Promise<BatchResult>;

/** The command could not be run at all (SSH failed), as opposed to running and failing. */
export class GuestTransportError extends GuestError {}

export interface EngineOptions {
  defaultTimeoutMs: number;
  signal?: AbortSignal;
  onResult?(result: CheckResult, index: number, total: number): void;
  /** Called after a transport error: throw (e.g. "kernel panic") to stop running checks. */
  health?(): Promise<void>;
  sleep?(ms: number): Promise<void>;
  now?(): number;
}

export interface EngineResult {
  results: CheckResult[];
  /** Set when the guest became unreachable: the error that stopped the run. */
  fatal?: unknown;
  /** Number of round trips to the guest. */
  batches: number;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(s: string, n: number): string {
  return stripControl(s).replace(/\s+$/, '').split('\n').slice(-n).join('\n');
}

function outputOf(out: GuestOutput): string | undefined {
  const parts = [];
  if (out.stdout.trim()) parts.push(tail(out.stdout, 20));
  if (out.stderr.trim()) parts.push(`[stderr]\n${tail(out.stderr, 10)}`);
  const s = parts.join('\n');
  return s ? s.slice(-4000) : undefined;
}

/**
 * Why check c must be skipped, or undefined when it may run: each need passed, or (with sentAt)
 * is a check sent in the same batch, which the guest judges before running c.
 */
function unmetNeed(c: CompiledCheck, byId: ReadonlyMap<string, CheckResult>, sentAt?: ReadonlyMap<string, number>): string | undefined {
  for (const n of c.def.needs) {
    if (sentAt?.has(n)) continue;
    const r = byId.get(n);
    if (r === undefined) return `needs ${n} (${n} does not apply to this image)`;
    if (r.status !== 'passed') return `needs ${n} (${n} ${r.status})`;
  }
  return undefined;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}

/**
 * Splits checks [from, n) into the next batch: stops before a check that needs a check of the
 * batch the guest cannot judge (no passExit), and after a check with retry.
 */
export function nextBatch(checks: readonly CompiledCheck[], from: number): number[] {
  const batch: number[] = [];
  const guestJudged = new Map<string, boolean>();
  for (let i = from; i < checks.length; i++) {
    const c = checks[i]!;
    if (c.def.needs.some((n) => guestJudged.get(n) === false)) break;
    batch.push(i);
    guestJudged.set(c.def.id, c.passExit !== undefined);
    if (c.def.retry) break;
  }
  return batch;
}

export async function runChecks(checks: readonly CompiledCheck[], exec: BatchExecutor, opts: EngineOptions): Promise<EngineResult> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? defaultSleep;
  const results: Array<CheckResult | undefined> = new Array(checks.length);
  const byId = new Map<string, CheckResult>();
  let fatal: unknown;
  let batches = 0;

  const base = (c: CompiledCheck): Omit<CheckResult, 'status' | 'message' | 'durationMs' | 'attempts'> => ({
    id: c.def.id,
    description: c.def.description ?? c.def.id,
    group: c.def.group,
    type: c.def.type,
    severity: c.def.severity,
    command: c.script.trimEnd(),
  });
  const finish = (i: number, r: CheckResult): void => {
    results[i] = r;
    byId.set(r.id, r);
    opts.onResult?.(r, i, checks.length);
  };
  const item = (c: CompiledCheck): BatchItem => ({
    script: c.script,
    sudo: c.def.sudo,
    timeoutMs: c.def.timeout_s !== undefined ? c.def.timeout_s * 1000 : opts.defaultTimeoutMs,
    ...(c.passExit !== undefined ? { passExit: c.passExit } : {}),
  });
  const judge = (c: CompiledCheck, out: BatchOutput): Verdict =>
    out.timedOut ? { ok: false, message: `timed out after ${Math.round(item(c).timeoutMs / 1000)} s` } : c.evaluate(out);
  const completed = (c: CompiledCheck, out: BatchOutput, verdict: Verdict, attempts: number, durationMs: number): CheckResult => ({
    ...base(c),
    status: verdict.ok ? 'passed' : 'failed',
    message: verdict.ok || attempts === 1 ? verdict.message : `${verdict.message} (after ${attempts} attempts)`,
    durationMs,
    attempts,
    exitCode: out.exitCode,
    output: outputOf(out),
  });
  /** Records a transport problem for check i; asks whether the guest is still alive. */
  const transportFailure = async (i: number, err: unknown, durationMs: number, attempts: number): Promise<void> => {
    const c = checks[i]!;
    let why = firstLine(err);
    if (fatal === undefined) {
      try {
        await opts.health?.();
      } catch (e) {
        fatal = e;
        why = firstLine(e);
      }
    } else {
      why = firstLine(fatal);
    }
    finish(i, { ...base(c), status: 'error', message: `could not run: ${why}`, durationMs, attempts });
  };

  let i = 0;
  while (i < checks.length) {
    if (opts.signal?.aborted) throw new AbortedError();
    const batch = nextBatch(checks, i);
    i = batch[batch.length - 1]! + 1;

    // Checks whose needs did not pass are skipped, not sent. Needs on checks sent in this batch
    // are left to the guest (item.needs) and judged again below, in order, once those ran.
    const send: number[] = [];
    const sentAt = new Map<string, number>();
    const items: BatchItem[] = [];
    for (const j of batch) {
      const c = checks[j]!;
      if (fatal !== undefined) {
        finish(j, { ...base(c), status: 'error', message: `not run: ${firstLine(fatal)}`, durationMs: 0, attempts: 0 });
        continue;
      }
      const unmet = unmetNeed(c, byId, sentAt);
      if (unmet) {
        finish(j, { ...base(c), status: 'skipped', message: unmet, durationMs: 0, attempts: 0 });
        continue;
      }
      const inBatch = c.def.needs.flatMap((n) => (sentAt.has(n) ? [sentAt.get(n)!] : []));
      sentAt.set(c.def.id, items.length);
      send.push(j);
      items.push(inBatch.length ? { ...item(c), needs: inBatch } : item(c));
    }
    if (send.length === 0) continue;

    let res: BatchResult;
    batches++;
    try {
      res = await exec(items, { signal: opts.signal });
    } catch (e) {
      if (isAbort(e) || opts.signal?.aborted) throw e instanceof AbortedError ? e : new AbortedError('interrupted', { cause: e });
      res = { outputs: send.map(() => undefined), transportError: e instanceof Error ? e : new Error(String(e)) };
    }

    for (const [k, j] of send.entries()) {
      const c = checks[j]!;
      const out = res.outputs[k];
      // A need met by a check of this batch: its result is in byId now.
      const unmet = fatal === undefined && items[k]!.needs ? unmetNeed(c, byId) : undefined;
      if (unmet) {
        finish(j, { ...base(c), status: 'skipped', message: unmet, durationMs: 0, attempts: 0 });
        continue;
      }
      if (out && 'skippedFor' in out) {
        // Cannot happen while passExit matches evaluate(); say so rather than guess.
        const need = checks[send[out.skippedFor] ?? -1]?.def.id ?? `item ${out.skippedFor}`;
        finish(j, { ...base(c), status: 'error', message: `not run: the guest judged ${need} as failed, the host as passed`, durationMs: 0, attempts: 0 });
        continue;
      }
      if (!out) {
        await transportFailure(j, res.transportError ?? new GuestTransportError('no result from the guest'), 0, 1);
        continue;
      }
      let verdict = judge(c, out);
      let last = out;
      let attempts = 1;
      let durationMs = out.durationMs;
      // Retry (always the last check of its batch): re-run it alone until it passes or time is up.
      if (!verdict.ok && c.def.retry) {
        const intervalMs = c.def.retry.interval_s * 1000;
        const deadline = now() - out.durationMs + c.def.retry.timeout_s * 1000;
        let broken: unknown;
        while (!verdict.ok && now() + intervalMs <= deadline) {
          await sleep(intervalMs);
          if (opts.signal?.aborted) throw new AbortedError();
          attempts++;
          batches++;
          let r: BatchResult;
          try {
            r = await exec([item(c)], { signal: opts.signal });
          } catch (e) {
            if (isAbort(e) || opts.signal?.aborted) throw e instanceof AbortedError ? e : new AbortedError('interrupted', { cause: e });
            r = { outputs: [undefined], transportError: e instanceof Error ? e : new Error(String(e)) };
          }
          const o = r.outputs[0];
          if (!o || 'skippedFor' in o) {
            broken = r.transportError ?? new GuestTransportError('no result from the guest');
            break;
          }
          last = o;
          durationMs += intervalMs + o.durationMs;
          verdict = judge(c, o);
        }
        if (broken !== undefined) {
          await transportFailure(j, broken, durationMs, attempts);
          continue;
        }
      }
      finish(j, completed(c, last, verdict, attempts, durationMs));
    }
  }
  const list = results.filter((r): r is CheckResult => r !== undefined);
  return fatal === undefined ? { results: list, batches } : { results: list, fatal, batches };
}
