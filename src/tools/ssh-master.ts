// The SSH ControlMaster: one logged-in connection per VM that every later ssh command goes
// through as a channel (under TCG a login costs the guest ~2 s of key exchange and process
// start-up; a channel costs a few ms). Started as the first login itself (masterAttempt).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, spawnProcess, type SpawnedProcess } from './exec.js';
import { sleep, sshArgs, type SshTarget } from './ssh.js';

export function controlPath(sockDir: string): string {
  return join(sockDir, 'ssh-control');
}

/** Starts the master connection (a tracked child: stopped in cleanup and on process exit). */
export function startMaster(t: SshTarget, sockDir: string, logFile?: string): SpawnedProcess {
  return spawnProcess('ssh', ['-M', '-N', '-o', `ControlPath=${controlPath(sockDir)}`, '-o', 'ControlPersist=no', ...sshArgs(t)], { logFile });
}

async function lastLogLine(logFile: string | undefined): Promise<string> {
  if (!logFile) return '';
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text.trim().split('\n').filter((l) => !l.startsWith('$ ')).pop() ?? '';
}

/**
 * One login attempt that is the master connection itself: the master is started and is ready
 * once `ssh -O check` answers through its socket (ssh opens the socket only after logging in).
 * Under TCG a login costs the guest ~2 s of key exchange and process start-up: a separate
 * `ssh true` probe before the master would cost that twice. On success the master is returned
 * through onMaster; a master that exits is a failed attempt.
 */
export function masterAttempt(t: SshTarget, sockDir: string, onMaster: (m: SpawnedProcess) => void, opts: { logFile?: string; signal?: AbortSignal; readyTimeoutMs?: number; pollMs?: number } = {}) {
  return async (): Promise<{ ok: true } | { ok: false; error: string }> => {
    const m = startMaster(t, sockDir, opts.logFile);
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
    try {
      while (Date.now() < deadline) {
        const exited = await Promise.race([m.exited.then(() => true), sleep(opts.pollMs ?? 100, opts.signal).then(() => false)]);
        if (exited) return { ok: false, error: (await lastLogLine(opts.logFile)) || 'ssh exited before logging in' };
        const c = await run('ssh', ['-O', 'check', '-o', `ControlPath=${controlPath(sockDir)}`, ...sshArgs(t)], { allowFailure: true, timeoutMs: 5000, signal: opts.signal });
        if (c.exitCode === 0) {
          onMaster(m);
          return { ok: true };
        }
      }
      await m.stop(1000);
      return { ok: false, error: `no login within ${Math.round((opts.readyTimeoutMs ?? 20_000) / 1000)} s` };
    } catch (e) {
      await m.stop(1000);
      throw e;
    }
  };
}
