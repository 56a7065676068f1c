// OpenSSH client plumbing: ephemeral keys, the hardened option set, exec, upload, wait-for-ready.
import { chmod, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run, type ExecOptions, type ExecResult } from './exec.js';
import { AbortedError, TimeoutError, throwIfAborted } from '../errors.js';

export interface SshKey {
  privateKeyPath: string;
  publicKey: string;
}

export interface SshTarget {
  host: string; // always 127.0.0.1 here: ports are forwarded to loopback only
  port: number;
  user: string;
  key: SshKey;
  /** A running ControlMaster's socket (tools/ssh-master.ts): commands go through it as channels. */
  controlPath?: string;
}

/** A fresh ed25519 key pair in dir, private key 0600, no passphrase, never reused. */
export async function generateKey(dir: string, opts: { signal?: AbortSignal } = {}): Promise<SshKey> {
  const privateKeyPath = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vexfs-image-ephemeral', '-f', privateKeyPath], {
    signal: opts.signal,
    timeoutMs: 30_000,
  });
  await chmod(privateKeyPath, 0o600);
  const publicKey = (await readFile(`${privateKeyPath}.pub`, 'utf8')).trim();
  return { privateKeyPath, publicKey };
}

/** ssh arguments up to and including the destination; the remote command follows. */
export function sshArgs(t: SshTarget, connectTimeoutS = 10): string[] {
  const mux = t.controlPath ? ['-o', 'ControlMaster=no', '-o', `ControlPath=${t.controlPath}`] : [];
  return [
    ...mux,
    '-i', t.key.privateKeyPath,
    '-p', String(t.port),
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'PasswordAuthentication=no',
    // Each VM has fresh host keys: there is nothing to pin, and nothing to record.
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', `ConnectTimeout=${connectTimeoutS}`,
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=8',
    `${t.user}@${t.host}`,
  ];
}

/** Runs a shell command in the guest. */
export function sshExec(t: SshTarget, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
  return run('ssh', [...sshArgs(t), '--', command], opts);
}

/**
 * Runs a local script in the guest with bash, with arguments (as root with sudo). The script is
 * first written to a temporary file, so commands in it never read the script's own text from stdin.
 */
export async function sshScript(t: SshTarget, script: string | Buffer, args: string[], opts: ExecOptions & { sudo?: boolean } = {}): Promise<ExecResult> {
  const { sudo, ...execOpts } = opts;
  return run('ssh', [...sshArgs(t), '--', remoteScriptCommand(args, sudo ?? false)], { ...execOpts, input: script });
}

export function remoteScriptCommand(args: string[], sudo: boolean): string {
  const quoted = args.map(shellQuote).join(' ');
  return `f=$(mktemp /tmp/vexfs-image.XXXXXX) && cat > "$f" && { ${sudo ? 'sudo -n ' : ''}bash "$f" ${quoted} </dev/null; rc=$?; rm -f "$f"; exit $rc; }`;
}

/** Copies bytes to a file in the guest (through ssh's stdin, no scp needed). */
export async function sshUpload(t: SshTarget, data: Buffer | string, remotePath: string, mode = '0644', opts: ExecOptions = {}): Promise<void> {
  const p = shellQuote(remotePath);
  await run('ssh', [...sshArgs(t), '--', `cat > ${p} && chmod ${mode} ${p}`], { ...opts, input: data });
}

export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Pause after a failed ssh attempt. */
  intervalMs?: number;
  /**
   * Before each ssh attempt, wait until the port answers with an SSH banner, polling every
   * bannerPollMs (default 250). A guest whose sshd is not up yet costs a TCP connect, not an ssh
   * process; false: no banner wait (tests with a fake ssh and nothing listening).
   */
  bannerPollMs?: number | false;
  /**
   * Called between attempts and once more at the deadline; throw from it to stop waiting (e.g.
   * the VM died or panicked), so a guest that crashed is reported as that, never as a timeout.
   */
  check?: () => Promise<void> | void;
  /**
   * One login attempt once the banner is there (default: `ssh ... true`); `error` says why it
   * failed, for the timeout message.
   */
  attempt?: () => Promise<{ ok: true } | { ok: false; error: string }>;
}

/**
 * What one connection to a forwarded SSH port saw:
 * - ssh: an SSH identification line;
 * - refused: connected, then closed with nothing said (QEMU's user-mode networking accepts every
 *   forwarded connection itself and closes it when the guest answers with a reset: the guest is
 *   up, nothing listens on the port yet);
 * - silent: nothing within the time (the guest's network is not up, or its sshd has not got to
 *   this connection yet);
 * - unreachable: no connection at all (nothing listens on the host port);
 * - other: something that is not SSH answered.
 */
export type ProbeResult = 'ssh' | 'refused' | 'silent' | 'unreachable' | 'other';

export function probeSsh(host: string, port: number, timeoutMs = 2000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let got = '';
    let connected = false;
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('silent'), timeoutMs);
    sock.on('connect', () => (connected = true));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= 4) done(got.startsWith('SSH-') ? 'ssh' : 'other');
    });
    sock.on('error', () => done(connected ? 'refused' : 'unreachable'));
    sock.on('close', () => done(connected ? (got ? 'other' : 'refused') : 'unreachable'));
  });
}

async function sshTrue(t: SshTarget, signal?: AbortSignal): Promise<{ ok: true } | { ok: false; error: string }> {
  const r = await run('ssh', [...sshArgs(t, 5), '--', 'true'], { allowFailure: true, timeoutMs: 20_000, signal });
  return r.exitCode === 0 ? { ok: true } : { ok: false, error: r.stderr.trim().split('\n').pop() ?? '' };
}

/** Polls until a login (by default `ssh ... true`) succeeds. Resolves with the time it took. */
export async function waitForSsh(t: SshTarget, opts: WaitOptions): Promise<number> {
  const start = Date.now();
  const deadline = start + opts.timeoutMs;
  const bannerPollMs = opts.bannerPollMs ?? 250;
  let last = '';
  const timeout = async (): Promise<TimeoutError> => {
    await opts.check?.();
    return new TimeoutError(`SSH on 127.0.0.1:${t.port} not ready after ${Math.round(opts.timeoutMs / 1000)} s (last error: ${last || 'none'})`);
  };
  // Once the guest has answered (a reset: it is up, sshd is not), a probe that hears nothing has
  // been accepted by sshd, which is slow to start its session process: keep waiting on that one
  // connection. Dropping it after 2 s and trying again leaves sshd a backlog of dead connections,
  // each of which still costs the guest a session process at the busiest moment of its boot.
  let guestAnswers = false;
  for (;;) {
    throwIfAborted(opts.signal);
    await opts.check?.();
    if (bannerPollMs !== false) {
      const waitMs = guestAnswers ? Math.max(1000, Math.min(deadline - Date.now(), 15_000)) : 2000;
      const probe = await probeSsh(t.host, t.port, waitMs);
      if (probe === 'refused') guestAnswers = true;
      if (probe !== 'ssh') {
        last = 'no SSH banner from the guest yet';
        if (Date.now() > deadline) throw await timeout();
        await sleep(bannerPollMs, opts.signal);
        continue;
      }
    }
    try {
      const r = await (opts.attempt ?? (() => sshTrue(t, opts.signal)))();
      if (r.ok) return Date.now() - start;
      last = r.error;
    } catch (e) {
      if (e instanceof AbortedError) throw e;
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() > deadline) throw await timeout();
    await sleep(opts.intervalMs ?? 1000, opts.signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
