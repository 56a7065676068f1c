// Runs batches of check scripts in the guest over one multiplexed SSH connection (a
// ControlMaster started once per image: each batch costs one channel, not a key exchange under
// TCG), with one sudo per batch. guest/checks/runner.sh runs the scripts and frames each check's
// output and result with marker lines that carry a per-batch nonce; a check without its result
// line never finished (the transport broke). The check functions (the other guest/checks/*.sh)
// go with every batch, once: a compiled check is one call of them (compile.ts).
import { randomBytes } from 'node:crypto';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbortedError, TimeoutError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';
import { run } from '../tools/exec.js';
import { sshArgs, type SshTarget } from '../tools/ssh.js';
import { controlPath } from '../tools/ssh-master.js';
import { GuestTransportError, type BatchExecutor, type BatchItem, type BatchOutput, type BatchResult, type ItemOutput } from './engine.js';

export const CHECKS_DIR = join(GUEST_DIR, 'checks');
export const RUNNER_FILE = join(CHECKS_DIR, 'runner.sh');
let runnerText: string | undefined;
let libraryText: string | undefined;

function runner(): string {
  runnerText ??= readFileSync(RUNNER_FILE, 'utf8');
  return runnerText;
}

/** The files that define the check functions: every guest/checks/*.sh but the runner, by name. */
export function checkLibraryFiles(dir = CHECKS_DIR): string[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith('.sh') && join(dir, n) !== RUNNER_FILE)
    .sort()
    .map((n) => join(dir, n));
}

/** The check functions' source, as one bash text (the files in name order). */
export function checkLibrary(): string {
  libraryText ??= checkLibraryFiles()
    .map((f) => readFileSync(f, 'utf8'))
    .join('\n');
  return libraryText;
}

/** A bash $'...' word for any text: bytes outside printable ASCII, quotes and backslashes as \\xHH. */
export function ansiCQuote(text: string): string {
  let out = "$'";
  for (const b of Buffer.from(text, 'utf8')) {
    out += b >= 0x20 && b < 0x7f && b !== 0x27 && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}'`;
}

/** A fresh marker nonce per batch: check output cannot contain it. */
export function newNonce(): string {
  return randomBytes(12).toString('hex');
}

/**
 * The whole batch as one bash program: the nonce, the check functions as one $'...' word (the
 * runner defines them, and hands their text to a check that runs as the login user), the runner,
 * then one vx_run line per item.
 */
export function batchScript(items: readonly BatchItem[], nonce: string, runnerSource = runner(), library = checkLibrary()): string {
  const lines = items.map((it, i) => {
    const limit = Math.max(1, Math.ceil(it.timeoutMs / 1000));
    const needs = it.needs?.length ? it.needs.join(',') : '-';
    return `vx_run ${i} ${limit} ${it.sudo ? 1 : 0} ${it.passExit ?? '-'} ${needs} ${ansiCQuote(it.script)}`;
  });
  return `vx_nonce=${nonce}\nvx_checks=${ansiCQuote(library)}\n${runnerSource}\n${lines.join('\n')}\n`;
}

/** The remote command: root only when some item needs it. */
export function batchCommand(items: readonly BatchItem[]): string {
  return items.some((i) => i.sudo) ? 'sudo -n bash -s' : 'bash -s';
}

const MAX_STDOUT = 64 * 1024;

/**
 * Parses the runner's output (see guest/checks/runner.sh) into per-item outputs: undefined for
 * an item without its result line (the transport broke before it finished).
 */
export function parseBatchOutput(stdout: string, count: number, nonce: string): Array<ItemOutput | undefined> {
  const out: Array<ItemOutput | undefined> = new Array(count).fill(undefined);
  const tag = `@@vx-${nonce} `;
  // Marker lines: the tag at the start of the output or of a line.
  const markers: Array<{ at: number; end: number; fields: string[] }> = [];
  for (let at = stdout.startsWith(tag) ? 0 : stdout.indexOf(`\n${tag}`); at !== -1; at = stdout.indexOf(`\n${tag}`, at + 1)) {
    const start = stdout[at] === '\n' ? at + 1 : at;
    const nl = stdout.indexOf('\n', start);
    const end = nl === -1 ? stdout.length : nl;
    markers.push({ at: start, end, fields: stdout.slice(start + tag.length, end).split(' ') });
    if (nl === -1) break;
  }
  // A section's text runs from after its marker line to the newline the runner adds before the next.
  const section = (k: number): string | undefined => {
    const next = markers[k + 1];
    if (!next) return undefined;
    return stdout.slice(markers[k]!.end + 1, Math.max(markers[k]!.end + 1, next.at - 1));
  };
  const texts = new Map<number, { stdout?: string; stderr?: string }>();
  markers.forEach((m, k) => {
    const [kind, a, b, c, d] = m.fields;
    const idx = Number(a);
    if (!Number.isInteger(idx) || idx < 0 || idx >= count) return;
    if (kind === 'skipped') out[idx] = { skippedFor: Number(b) };
    else if (kind === 'out') texts.set(idx, { ...texts.get(idx), stdout: section(k) });
    else if (kind === 'err') texts.set(idx, { ...texts.get(idx), stderr: section(k) });
    else if (kind === 'result') {
      const t = texts.get(idx) ?? {};
      if (t.stdout === undefined) return;
      out[idx] = {
        exitCode: Number(b),
        durationMs: Number(c),
        timedOut: d === '1',
        stdout: t.stdout.slice(0, MAX_STDOUT),
        stderr: t.stderr ?? '',
      };
    }
  });
  return out;
}

export function clientArgs(t: SshTarget, sockDir: string): string[] {
  return ['-o', 'ControlMaster=no', '-o', `ControlPath=${controlPath(sockDir)}`, ...sshArgs(t)];
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
    const nonce = newNonce();
    try {
      const r = await run('ssh', [...clientArgs(t, sockDir), '--', batchCommand(items)], {
        input: batchScript(items, nonce),
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
    const outputs = parseBatchOutput(stdout, items.length, nonce);
    logBatch(logFile, items, outputs, note);
    return transportError && outputs.some((o) => o === undefined) ? { outputs, transportError } : { outputs };
  };
}

/** Item k's output; throws the transport error (or GuestTransportError) when it did not run. */
export function ranOutput(r: BatchResult, k: number): BatchOutput {
  const o = r.outputs[k];
  if (!o || 'skippedFor' in o) throw r.transportError ?? new GuestTransportError('no result from the guest');
  return o;
}
