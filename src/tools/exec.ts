// The only module that starts child processes (ARCHITECTURE.md, "one place spawns").
// stdin is /dev/null unless input is given; output is captured and optionally appended to a
// log file; a timeout or an aborted signal sends SIGTERM, then SIGKILL after a grace period;
// every live child is killed when this process exits. runAttached is the one exception: it
// hands the terminal to the child (interactive ssh).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { AbortedError, CommandError, TimeoutError, indent } from '../errors.js';

export interface ExecOptions {
  cwd?: string;
  /** Added to (and overriding) the inherited environment. */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Append the command line, stdout and stderr to this file. */
  logFile?: string;
  input?: string | Buffer;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  /** Grace period between SIGTERM and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /** Called with each chunk of output as it arrives (for streaming guest builds to a log). */
  onOutput?: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Keep at most this many bytes of stdout in memory (default 64 MiB). */
  maxBuffer?: number;
}

export interface ExecResult {
  command: string[];
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL whatever is still running.
  process.on('exit', () => {
    for (const child of live) killTree(child, 'SIGKILL');
  });
}

/**
 * Signals the child's whole process group. Children are spawned detached (their own group), so
 * a shell's own children (`sh -c 'a; b'`) die with it; killing only the direct child would
 * leave them running, holding the output pipes open so that 'close' never came.
 */
function killTree(child: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, sig);
    else child.kill(sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  }
}

/** Appends to a log file, creating its directory; a log that cannot be written never kills the run. */
function openLog(file: string, command: readonly string[]): WriteStream {
  try {
    mkdirSync(dirname(file), { recursive: true });
  } catch {
    /* the stream reports it below */
  }
  const log = createWriteStream(file, { flags: 'a' });
  log.on('error', () => undefined);
  log.write(`$ ${command.join(' ')}\n`);
  return log;
}

/** Number of children started by exec that are still running (tests assert it drops to 0). */
export function liveChildren(): number {
  return live.size;
}

export function lastLines(text: string, n: number): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

function childEnv(extra: ExecOptions['env']): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8' };
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  /** Resolves when the process exits, never rejects. */
  readonly exited: Promise<{ exitCode: number | null; signal: string | null }>;
  /** SIGTERM, then SIGKILL after the grace period; resolves when it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  isRunning(): boolean;
}

/**
 * Starts a long-running child (QEMU, an HTTP server in tests) and returns a handle.
 * Output goes to logFile (if any); nothing is buffered in memory.
 */
export function spawnProcess(cmd: string, args: string[], opts: Omit<ExecOptions, 'input' | 'allowFailure' | 'timeoutMs'> = {}): SpawnedProcess {
  installExitHook();
  if (opts.signal?.aborted) throw new AbortedError();
  const log = opts.logFile ? openLog(opts.logFile, [cmd, ...args]) : undefined;
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    stdio: ['ignore', log || opts.onOutput ? 'pipe' : 'ignore', log || opts.onOutput ? 'pipe' : 'ignore'],
    detached: true, // own process group: see killTree
  });
  live.add(child);
  for (const [stream, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ] as const) {
    stream?.on('data', (b: Buffer) => {
      log?.write(b);
      opts.onOutput?.(b.toString('utf8'), name);
    });
  }
  let running = true;
  const exited = new Promise<{ exitCode: number | null; signal: string | null }>((resolve) => {
    child.on('error', () => {
      running = false;
      live.delete(child);
      log?.end();
      resolve({ exitCode: null, signal: null });
    });
    child.on('close', (code, sig) => {
      running = false;
      live.delete(child);
      // Resolve once the log is flushed: callers read its tail right after the exit.
      const done = (): void => resolve({ exitCode: code, signal: sig });
      if (log) log.end(done);
      else done();
    });
  });
  const stop = async (graceMs = opts.killGraceMs ?? 5000): Promise<void> => {
    if (!running) return;
    killTree(child, 'SIGTERM');
    const timer = setTimeout(() => {
      if (running) killTree(child, 'SIGKILL');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  };
  const onAbort = (): void => void stop();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  void exited.then(() => opts.signal?.removeEventListener('abort', onAbort));
  return { child, pid: child.pid, exited, stop, isRunning: () => running };
}

/** Runs a command to completion. Throws CommandError on non-zero exit unless allowFailure. */
export async function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  installExitHook();
  const command = [cmd, ...args];
  if (opts.signal?.aborted) throw new AbortedError(`interrupted before ${cmd} started`);
  const started = Date.now();
  const log = opts.logFile ? openLog(opts.logFile, command) : undefined;
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true, // own process group: see killTree
  });
  live.add(child);
  const maxBuffer = opts.maxBuffer ?? 64 * 1024 * 1024;
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    if (stdout.length < maxBuffer) stdout += s;
    log?.write(b);
    opts.onOutput?.(s, 'stdout');
  });
  child.stderr?.on('data', (b: Buffer) => {
    const s = b.toString('utf8');
    stderr += s;
    if (stderr.length > 1024 * 1024) stderr = stderr.slice(-512 * 1024);
    log?.write(b);
    opts.onOutput?.(s, 'stderr');
  });
  if (opts.input !== undefined && child.stdin) {
    child.stdin.on('error', () => undefined); // the child may exit before reading all input
    child.stdin.end(opts.input);
  }

  let why: 'timeout' | 'abort' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = (reason: 'timeout' | 'abort'): void => {
    if (why) return;
    why = reason;
    killTree(child, 'SIGTERM');
    killTimer = setTimeout(() => killTree(child, 'SIGKILL'), opts.killGraceMs ?? 5000);
  };
  const timer = opts.timeoutMs ? setTimeout(() => terminate('timeout'), opts.timeoutMs) : undefined;
  const onAbort = (): void => terminate('abort');
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const { code, sig, spawnError } = await new Promise<{ code: number | null; sig: string | null; spawnError?: Error }>(
    (resolve) => {
      child.on('error', (e) => resolve({ code: null, sig: null, spawnError: e }));
      child.on('close', (c, s) => resolve({ code: c, sig: s }));
    },
  );
  live.delete(child);
  if (timer) clearTimeout(timer);
  if (killTimer) clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  await new Promise<void>((r) => (log ? log.end(r) : r()));

  const result: ExecResult = {
    command,
    exitCode: code,
    signal: sig,
    stdout,
    stderr,
    durationMs: Date.now() - started,
  };
  if (spawnError) {
    const enoent = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CommandError(command, null, null, enoent ? `${cmd}: command not found` : spawnError.message, {
      cause: spawnError,
      hint: enoent ? 'run `vexfs-image doctor` to see which host tools are missing' : undefined,
    });
  }
  if (why === 'abort') throw new AbortedError(`interrupted: ${command.join(' ')}`);
  if (why === 'timeout') {
    const tail = lastLines(stderr, 20).trim();
    throw new TimeoutError(`${command.join(' ')} did not finish within ${formatSeconds(opts.timeoutMs ?? 0)}${tail ? `\n${indent(tail)}` : ''}`);
  }
  if (code !== 0 && !opts.allowFailure) {
    throw new CommandError(command, code, sig, lastLines(stderr || stdout, 20));
  }
  return result;
}

/** 0.3 s, 12 s, 1228 s: whole seconds once it is more than a few. */
function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${ms / 1000} s` : `${Math.round(ms / 1000)} s`;
}

export interface AttachedResult {
  exitCode: number | null;
  signal: string | null;
}

/**
 * Runs a command on this process's own stdin/stdout/stderr (an interactive `ssh`) and resolves
 * with how it ended; a non-zero exit is not an error, the caller passes it on. The child stays
 * in our process group, so it can read the terminal and gets Ctrl-C from it directly; an
 * aborted signal (SIGTERM to us) is forwarded as SIGTERM, then SIGKILL after the grace period.
 */
export async function runAttached(cmd: string, args: string[], opts: Pick<ExecOptions, 'cwd' | 'env' | 'signal' | 'killGraceMs'> = {}): Promise<AttachedResult> {
  installExitHook();
  const command = [cmd, ...args];
  if (opts.signal?.aborted) throw new AbortedError(`interrupted before ${cmd} started`);
  // Not childEnv(): the user's locale is theirs, and the remote shell inherits it through ssh.
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const child = spawn(cmd, args, { cwd: opts.cwd, env, stdio: 'inherit' });
  live.add(child);
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 5000);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const { code, sig, spawnError } = await new Promise<{ code: number | null; sig: string | null; spawnError?: Error }>((resolve) => {
    child.on('error', (e) => resolve({ code: null, sig: null, spawnError: e }));
    child.on('close', (c, s) => resolve({ code: c, sig: s }));
  });
  live.delete(child);
  if (killTimer) clearTimeout(killTimer);
  opts.signal?.removeEventListener('abort', onAbort);
  if (spawnError) {
    const enoent = (spawnError as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CommandError(command, null, null, enoent ? `${cmd}: command not found` : spawnError.message, {
      cause: spawnError,
      hint: enoent ? 'run `vexfs-image doctor` to see which host tools are missing' : undefined,
    });
  }
  return { exitCode: code, signal: sig };
}
