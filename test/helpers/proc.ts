// Test helpers for fault injection: a CLI run whose output can be waited on, the QEMU processes it
// started (found by pid through /proc, not by name), and snapshots of directories.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';

export const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');

export interface CliRun {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far. */
  output(): string;
  stderr(): string;
  /** Resolves when the output matches re; rejects if the run ends first or after timeoutMs. */
  until(re: RegExp, timeoutMs: number): Promise<void>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export function startCli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): CliRun {
  const t0 = Date.now();
  const child = spawn(BIN, args, { cwd: opts.cwd, env: { ...process.env, CI: 'true', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const poke = (): void => waiters.forEach((w) => w());
  child.stdout!.on('data', (b) => ((out += b), poke()));
  child.stderr!.on('data', (b) => {
    err += b;
    if (process.env.VEXFS_TEST_VERBOSE === '1') process.stderr.write(b);
    poke();
  });
  let ended = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) => {
    child.on('close', (code, signal) => {
      ended = true;
      poke();
      resolve({ code, signal, ms: Date.now() - t0 });
    });
  });
  return {
    child,
    pid: child.pid!,
    output: () => out + err,
    stderr: () => err,
    exit,
    until(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`timed out after ${timeoutMs} ms waiting for ${re}; output so far:\n${(out + err).slice(-3000)}`)), timeoutMs);
        const done = (e?: Error): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (e) reject(e);
          else resolve();
        };
        const check = (): void => {
          if (re.test(out + err)) done();
          else if (ended) done(new Error(`the run ended before ${re} appeared:\n${(out + err).slice(-3000)}`));
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** [pid, ppid, state] of every process, from /proc. */
function processTable(): Array<{ pid: number; ppid: number; state: string; cmd: string }> {
  const rows = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ');
      rows.push({ pid: Number(name), state: rest[0]!, ppid: Number(rest[1]), cmd });
    } catch {
      /* gone meanwhile */
    }
  }
  return rows;
}

/** The qemu-system processes among pid's descendants. */
export function qemuDescendants(pid: number): number[] {
  const table = processTable();
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const r of table.filter((x) => x.ppid === p)) {
      if (/(^|\/)qemu-system-\S+ /.test(r.cmd)) found.push(r.pid);
      walk(r.pid);
    }
  };
  walk(pid);
  return found;
}

/** Is the process gone (or a zombie, i.e. dead and waiting to be reaped)? */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 200): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Waits until the run has a QEMU child and returns its pid. */
export async function qemuOf(run: CliRun, timeoutMs: number): Promise<number> {
  let pid: number | undefined;
  const ok = await waitFor(() => (pid = qemuDescendants(run.pid)[0]) !== undefined, timeoutMs);
  if (!ok || pid === undefined) throw new Error(`no QEMU started by pid ${run.pid} within ${timeoutMs} ms:\n${run.output().slice(-2000)}`);
  return pid;
}

/** relative path -> sha256 of every file under dir (directories listed with a trailing /). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) {
        out[`${relative(dir, p)}/`] = 'dir';
        walk(p);
      } else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

/** The one "vexfs-image: error: ..." line of a failed run (hint lines aside). */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('vexfs-image: '));
}
