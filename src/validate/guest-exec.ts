// Runs batches of check scripts in the guest over one multiplexed SSH connection (a
// ControlMaster started once per image: each batch costs one channel, not a key exchange under
// TCG), with one sudo per batch. guest/checks/runner.sh runs the scripts and reports each
// result on a marker line; a check without its line never ran (the transport broke).
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbortedError, TimeoutError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';
import { run, spawnProcess, type SpawnedProcess } from '../tools/exec.js';
import { sshArgs, type SshTarget } from '../tools/ssh.js';
import { GuestTransportError, type BatchExecutor, type BatchItem, type BatchOutput, type BatchResult, type ItemOutput } from './engine.js';

export const RUNNER_FILE = join(GUEST_DIR, 'checks', 'runner.sh');
let runnerText: string | undefined;

function runner(): string {
  runnerText ??= readFileSync(RUNNER_FILE, 'utf8');
  return runnerText;
}

export function controlPath(sockDir: string): string {
  return join(sockDir, 'ssh-control');
}

/** The whole batch as one bash program: the runner, then one vx_run line per item. */
export function batchScript(items: readonly BatchItem[], runnerSource = runner()): string {
  const lines = items.map((it, i) => {
    const limit = Math.max(1, Math.ceil(it.timeoutMs / 1000));
    const needs = it.needs?.length ? it.needs.join(',') : '-';
    return `vx_run ${i} ${limit} ${it.sudo ? 1 : 0} ${it.passExit ?? '-'} ${needs} ${Buffer.from(it.script, 'utf8').toString('base64')}`;
  });
  return `${runnerSource}\n${lines.join('\n')}\n`;
}

/** The remote command: root only when some item needs it. */
export function batchCommand(items: readonly BatchItem[]): string {
  return items.some((i) => i.sudo) ? 'sudo -n bash -s' : 'bash -s';
}

const RESULT_RE = /^@@vx-result (\d+) (\d+) (\d+) ([01]) (\S+) (\S+)$/;
const SKIPPED_RE = /^@@vx-skipped (\d+) (\d+)$/;

function b64(s: string): string {
  return s === '-' ? '' : Buffer.from(s, 'base64').toString('utf8');
}

/** Parses the runner's result lines into per-item outputs (undefined for items without one). */
export function parseBatchOutput(stdout: string, count: number): Array<ItemOutput | undefined> {
  const out: Array<ItemOutput | undefined> = new Array(count).fill(undefined);
  for (const line of stdout.split('\n')) {
    const skip = SKIPPED_RE.exec(line.trim());
    if (skip) {
      const idx = Number(skip[1]);
      if (idx < count) out[idx] = { skippedFor: Number(skip[2]) };
      continue;
    }
    const m = RESULT_RE.exec(line.trim());
    if (!m) continue;
    const idx = Number(m[1]);
    if (idx >= count) continue;
    out[idx] = { exitCode: Number(m[2]), durationMs: Number(m[3]), timedOut: m[4] === '1', stdout: b64(m[5]!), stderr: b64(m[6]!) };
  }
  return out;
}

export function clientArgs(t: SshTarget, sockDir: string): string[] {
  return ['-o', 'ControlMaster=no', '-o', `ControlPath=${controlPath(sockDir)}`, ...sshArgs(t)];
}

/** Starts the master connection (a tracked child: stopped in cleanup and on process exit). */
export function startMaster(t: SshTarget, sockDir: string, logFile?: string): SpawnedProcess {
  return spawnProcess('ssh', ['-M', '-N', '-o', `ControlPath=${controlPath(sockDir)}`, '-o', 'ControlPersist=no', ...sshArgs(t)], { logFile });
}

function logBatch(logFile: string | undefined, items: readonly BatchItem[], outputs: Array<ItemOutput | undefined>, note: string): void {
  if (!logFile) return;
  const parts = items.map((it, i) => {
    const o = outputs[i];
    const head = `$ ${it.sudo ? '(root) ' : ''}${it.script.trimEnd()}`;
    if (!o) return `${head}\n[no result]\n`;
    if ('skippedFor' in o) return `${head}\n[not run: needs item ${o.skippedFor} of this batch, which did not pass]\n`;
    return `${head}\n${o.stdout}${o.stderr ? `[stderr]\n${o.stderr}` : ''}[exit ${o.exitCode}${o.timedOut ? ', timed out' : ''}, ${o.durationMs} ms]\n`;
  });
  try {
    appendFileSync(logFile, `### batch of ${items.length} (${note})\n${parts.join('\n')}\n`);
  } catch {
    /* logging never fails a check */
  }
}

export function sshBatchExecutor(t: SshTarget, sockDir: string, logFile?: string): BatchExecutor {
  return async (items, opts): Promise<BatchResult> => {
    const budget = items.reduce((s, i) => s + i.timeoutMs, 0) + 30_000;
    let stdout = '';
    let note: string;
    let transportError: Error | undefined;
    try {
      const r = await run('ssh', [...clientArgs(t, sockDir), '--', batchCommand(items)], {
        input: batchScript(items),
        allowFailure: true,
        timeoutMs: budget,
        signal: opts.signal,
        killGraceMs: 1000,
      });
      stdout = r.stdout;
      note = `ssh exit ${r.exitCode}, ${r.durationMs} ms`;
      if (r.exitCode !== 0) {
        const why = r.stderr.trim().split('\n').pop() ?? '';
        transportError = new GuestTransportError(`ssh to 127.0.0.1:${t.port} failed (exit ${r.exitCode})${why ? `: ${why}` : ''}`);
      }
    } catch (e) {
      if (e instanceof AbortedError) throw e;
      note = e instanceof Error ? e.message : String(e);
      transportError = e instanceof TimeoutError ? new GuestTransportError(`the batch did not finish within ${Math.round(budget / 1000)} s`) : e instanceof Error ? e : new Error(note);
    }
    const outputs = parseBatchOutput(stdout, items.length);
    logBatch(logFile, items, outputs, note);
    return transportError && outputs.some((o) => o === undefined) ? { outputs, transportError } : { outputs };
  };
}

/** One script through the batch machinery; throws GuestTransportError when it did not run. */
export async function execOne(exec: BatchExecutor, item: BatchItem, signal?: AbortSignal): Promise<BatchOutput> {
  const r = await exec([item], { signal });
  const o = r.outputs[0];
  if (!o || 'skippedFor' in o) throw r.transportError ?? new GuestTransportError('no result from the guest');
  return o;
}
