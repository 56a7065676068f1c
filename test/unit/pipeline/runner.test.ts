import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runSteps, timingsOf } from '../../../src/pipeline/runner.js';
import type { RunEvent } from '../../../src/pipeline/events.js';
import type { Step, StepRuntime } from '../../../src/pipeline/step.js';
import { AbortedError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/fs.js';

interface Ctx {
  log: string[];
}

function step(name: string, opts: { fail?: boolean; skip?: string; cleanupThrows?: boolean; noCleanup?: boolean; run?: (rt: StepRuntime) => Promise<void> } = {}): Step<Ctx> {
  return {
    name,
    title: `Title ${name}`,
    skip: opts.skip ? () => opts.skip : undefined,
    run: async (ctx, rt) => {
      ctx.log.push(`run:${name}`);
      if (opts.run) await opts.run(rt);
      if (opts.fail) throw new Error(`${name} broke`);
    },
    cleanup: opts.noCleanup
      ? undefined
      : async (ctx) => {
          ctx.log.push(`cleanup:${name}`);
          if (opts.cleanupThrows) throw new Error(`cleanup of ${name} broke`);
        },
  };
}

function setup(): { ctx: Ctx; events: RunEvent[]; opts: { signal: AbortSignal; logDir: string; emit: (e: RunEvent) => void } } {
  const events: RunEvent[] = [];
  return {
    ctx: { log: [] },
    events,
    opts: { signal: new AbortController().signal, logDir: join(tempDir(), 'logs'), emit: (e) => events.push(e) },
  };
}

describe('runSteps', () => {
  test('success: runs in order, cleans up every step in reverse order, records timings', async () => {
    const { ctx, events, opts } = setup();
    const slow = step('b', { run: () => new Promise((r) => setTimeout(r, 60)) });
    const timings = await runSteps([step('a'), slow, step('c')], ctx, opts);
    assert.deepEqual(ctx.log, ['run:a', 'run:b', 'run:c', 'cleanup:c', 'cleanup:b', 'cleanup:a']);
    assert.deepEqual(
      timings.map((t) => [t.step, t.status]),
      [
        ['a', 'ok'],
        ['b', 'ok'],
        ['c', 'ok'],
      ],
    );
    assert.ok(timings[1]!.ms >= 50, `step b took ${timings[1]!.ms} ms, expected >= 50`);
    assert.ok(existsSync(opts.logDir), 'log directory created');
    const ends = events.filter((e) => e.type === 'step-end');
    assert.equal(ends.length, 3);
    const starts = events.filter((e) => e.type === 'step-start');
    assert.deepEqual(
      starts.map((e) => (e.type === 'step-start' ? [e.index, e.total, e.title] : [])),
      [
        [0, 3, 'Title a'],
        [1, 3, 'Title b'],
        [2, 3, 'Title c'],
      ],
    );
  });

  test('failing step: later steps never run, started steps (including the failing one) cleaned up in reverse', async () => {
    const { ctx, events, opts } = setup();
    await assert.rejects(runSteps([step('a'), step('b'), step('c', { fail: true }), step('d')], ctx, opts), (err: Error) => {
      assert.equal(err.message, 'c broke');
      assert.deepEqual(
        timingsOf(err)?.map((t) => [t.step, t.status]),
        [
          ['a', 'ok'],
          ['b', 'ok'],
          ['c', 'failed'],
        ],
      );
      return true;
    });
    assert.deepEqual(ctx.log, ['run:a', 'run:b', 'run:c', 'cleanup:c', 'cleanup:b', 'cleanup:a']);
    const fail = events.find((e) => e.type === 'step-fail');
    assert.ok(fail && fail.type === 'step-fail' && fail.step === 'c');
  });

  test('a throwing cleanup does not mask the original error, is reported as cleanup-error, and the others still run', async () => {
    const { ctx, events, opts } = setup();
    await assert.rejects(
      runSteps([step('a'), step('b', { cleanupThrows: true }), step('c', { fail: true })], ctx, opts),
      /^Error: c broke$/,
    );
    assert.deepEqual(ctx.log, ['run:a', 'run:b', 'run:c', 'cleanup:c', 'cleanup:b', 'cleanup:a']);
    const ce = events.filter((e) => e.type === 'cleanup-error');
    assert.equal(ce.length, 1);
    assert.ok(ce[0]!.type === 'cleanup-error' && ce[0]!.step === 'b' && /cleanup of b broke/.test(String(ce[0]!.error)));
  });

  test('a throwing cleanup after a successful run is reported but the run still succeeds', async () => {
    const { ctx, events, opts } = setup();
    const timings = await runSteps([step('a', { cleanupThrows: true }), step('b')], ctx, opts);
    assert.equal(timings.length, 2);
    assert.equal(events.filter((e) => e.type === 'cleanup-error').length, 1);
  });

  test('abort mid-step: the step sees the signal, becomes AbortedError, started steps cleaned up in reverse, later steps never run', async () => {
    const { ctx, opts } = setup();
    const ac = new AbortController();
    let cleanupSignalAborted: boolean | undefined;
    const waiting = step('b', {
      run: (rt) =>
        new Promise<void>((_resolve, reject) => {
          rt.signal.addEventListener('abort', () => reject(new Error('wait cancelled')), { once: true });
          setTimeout(() => ac.abort(), 20);
        }),
    });
    waiting.cleanup = async (c, rt) => {
      c.log.push('cleanup:b');
      cleanupSignalAborted = rt.signal.aborted;
    };
    await assert.rejects(runSteps([step('a'), waiting, step('c')], ctx, { ...opts, signal: ac.signal }), (err: unknown) => {
      assert.ok(err instanceof AbortedError, `expected AbortedError, got ${String(err)}`);
      assert.match(String((err as Error).cause), /wait cancelled/);
      return true;
    });
    assert.deepEqual(ctx.log, ['run:a', 'run:b', 'cleanup:b', 'cleanup:a']);
    // Cleanup must still be able to run commands: its signal is not the aborted one.
    assert.equal(cleanupSignalAborted, false);
  });

  test('abort between steps: the next step does not start', async () => {
    const { ctx, opts } = setup();
    const ac = new AbortController();
    const a = step('a', { run: async () => ac.abort() });
    await assert.rejects(runSteps([a, step('b')], ctx, { ...opts, signal: ac.signal }), AbortedError);
    assert.deepEqual(ctx.log, ['run:a', 'cleanup:a']);
  });

  test('already aborted: nothing runs, nothing to clean up', async () => {
    const { ctx, opts } = setup();
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(runSteps([step('a')], ctx, { ...opts, signal: ac.signal }), AbortedError);
    assert.deepEqual(ctx.log, []);
  });

  test('skipped steps: not run, not cleaned up, recorded as skipped with a step-skip event', async () => {
    const { ctx, events, opts } = setup();
    const timings = await runSteps([step('a'), step('b', { skip: 'not needed' }), step('c')], ctx, opts);
    assert.deepEqual(ctx.log, ['run:a', 'run:c', 'cleanup:c', 'cleanup:a']);
    assert.deepEqual(timings[1], { step: 'b', ms: 0, status: 'skipped' });
    assert.deepEqual(
      events.filter((e) => e.type === 'step-skip'),
      [{ type: 'step-skip', step: 'b', reason: 'not needed' }],
    );
  });

  test('a throwing skip() still cleans up the steps already started', async () => {
    const { ctx, opts } = setup();
    const bad: Step<Ctx> = {
      name: 'bad',
      title: 'bad',
      skip: () => {
        throw new TypeError('skip exploded');
      },
      run: async () => undefined,
    };
    await assert.rejects(runSteps([step('a'), bad, step('c')], ctx, opts), /skip exploded/);
    assert.deepEqual(ctx.log, ['run:a', 'cleanup:a']);
  });

  test('steps without cleanup are fine; rt.info/warn emit events and land in the step log file', async () => {
    const { ctx, events, opts } = setup();
    let logFile = '';
    const s = step('talk', {
      noCleanup: true,
      run: async (rt) => {
        logFile = rt.logFile;
        rt.info('hello');
        rt.warn('careful');
      },
    });
    await runSteps([step('first'), s], ctx, opts);
    assert.equal(logFile, join(opts.logDir, '02-talk.log'));
    assert.ok(events.some((e) => e.type === 'info' && e.message === 'hello' && e.step === 'talk'));
    assert.ok(events.some((e) => e.type === 'warn' && e.message === 'careful' && e.step === 'talk'));
    // Written by the time runSteps returns (it waits for the step logs).
    assert.equal(readFileSync(logFile, 'utf8'), '[info] hello\n[warn] careful\n');
  });
});

describe('runSteps with keepGoing', () => {
  test('a failed step does not stop the run: every failure is returned with its error, cleanup still in reverse', async () => {
    const { ctx, events, opts } = setup();
    const timings = await runSteps([step('a'), step('b', { fail: true }), step('c'), step('d', { fail: true })], ctx, { ...opts, keepGoing: true });
    assert.deepEqual(ctx.log, ['run:a', 'run:b', 'run:c', 'run:d', 'cleanup:d', 'cleanup:c', 'cleanup:b', 'cleanup:a']);
    assert.deepEqual(
      timings.map((t) => [t.step, t.status, t.error instanceof Error ? t.error.message : undefined]),
      [
        ['a', 'ok', undefined],
        ['b', 'failed', 'b broke'],
        ['c', 'ok', undefined],
        ['d', 'failed', 'd broke'],
      ],
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'step-fail').map((e) => (e.type === 'step-fail' ? e.step : '')),
      ['b', 'd'],
    );
  });

  test('a later step can skip itself because of an earlier failure; a throwing skip() is one more failure', async () => {
    const { ctx, opts } = setup();
    const failed = new Set<string>();
    const dependent: Step<Ctx> = { ...step('b'), skip: () => (failed.has('a') ? 'a failed' : undefined) };
    const bad: Step<Ctx> = { ...step('c'), skip: () => { throw new TypeError('skip exploded'); } };
    const timings = await runSteps([step('a', { fail: true }), dependent, bad, step('d')], ctx, {
      ...opts,
      keepGoing: true,
      emit: (e) => {
        if (e.type === 'step-fail') failed.add(e.step);
      },
    });
    assert.deepEqual(timings.map((t) => [t.step, t.status]), [['a', 'failed'], ['b', 'skipped'], ['c', 'failed'], ['d', 'ok']]);
    assert.deepEqual(ctx.log, ['run:a', 'run:d', 'cleanup:d', 'cleanup:a']);
  });

  test('an abort still stops the run and is thrown as AbortedError', async () => {
    const { ctx, opts } = setup();
    const ac = new AbortController();
    const a = step('a', { fail: true, run: async () => ac.abort() });
    await assert.rejects(runSteps([a, step('b')], ctx, { ...opts, signal: ac.signal, keepGoing: true }), AbortedError);
    assert.deepEqual(ctx.log, ['run:a', 'cleanup:a']);
  });
});

test('a cleanup that removes the log directory runs after the failed step\'s last log lines landed', async () => {
  // validate's work directory holds the step logs and its first step's cleanup removes it: lines
  // still being appended made rm -r fail (ENOTEMPTY) and the directory stay.
  for (let round = 0; round < 5; round++) {
    const work = join(tempDir(), 'work');
    const logDir = join(work, 'steps');
    const errors: RunEvent[] = [];
    const steps: Step<Ctx>[] = [
      {
        name: 'workspace',
        title: 'W',
        run: async () => undefined,
        cleanup: async () => {
          const { rm } = await import('node:fs/promises');
          await rm(work, { recursive: true, force: true });
        },
      },
      {
        name: 'chatty',
        title: 'C',
        run: async (_ctx, rt) => {
          for (let i = 0; i < 200; i++) rt.info(`line ${i}`);
          throw new Error('chatty broke');
        },
      },
    ];
    await assert.rejects(runSteps(steps, { log: [] }, { signal: new AbortController().signal, logDir, emit: (e) => e.type === 'cleanup-error' && errors.push(e) }), /chatty broke/);
    assert.deepEqual(errors, []);
    assert.equal(existsSync(work), false, `round ${round}: the work directory came back or stayed`);
  }
});
