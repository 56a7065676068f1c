// `vexfs-image ssh`: which instance to connect to, and the ssh command line for it. Pure, so
// that the choices (and their error messages) are unit-tested.
import { UsageError } from '../errors.js';
import { shellQuote } from '../tools/ssh.js';
import { LOOPBACK } from '../tools/ports.js';
import type { InstanceEntry, InstanceState } from './state.js';

export { LOOPBACK };

/**
 * The remote command line: one argument is a shell command line, as with ssh itself
 * (`-- 'dmesg | tail'`); several are an argv, each word quoted, so `-- sh -c 'exit 3'` runs
 * exactly that (plain ssh would join them into `sh -c exit 3`).
 */
export function remoteCommandLine(command: readonly string[]): string | undefined {
  if (command.length === 0) return undefined;
  if (command.length === 1) return command[0];
  return command.map(shellQuote).join(' ');
}

/** ssh's arguments for an instance: its key, its port, its own known_hosts. */
export function instanceSshArgs(state: Pick<InstanceState, 'key' | 'knownHosts' | 'sshPort' | 'user'>, command: readonly string[] = [], opts: { tty?: boolean } = {}): string[] {
  if (!state.sshPort) throw new UsageError('the instance has no SSH port yet (it is still starting)');
  const args = [
    '-i', state.key,
    '-p', String(state.sshPort),
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    // The guest's host key was recorded by `run` on first contact: any other key is refused.
    '-o', `UserKnownHostsFile=${state.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=accept-new',
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=10',
  ];
  if (opts.tty) args.push('-t');
  args.push(`${state.user}@${LOOPBACK}`);
  const line = remoteCommandLine(command);
  if (line !== undefined) args.push('--', line);
  return args;
}

/** The plain ssh command a user can paste (the ready line's second half). */
export function plainSshCommand(state: Pick<InstanceState, 'key' | 'knownHosts' | 'sshPort' | 'user'>): string {
  return ['ssh', '-i', state.key, '-p', String(state.sshPort), '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${state.knownHosts}`, `${state.user}@${LOOPBACK}`]
    .map(shellQuote)
    .join(' ');
}

/**
 * NAME and COMMAND from `ssh [NAME] [-- COMMAND...]`. Commander drops the `--` from the
 * operands, so the caller passes what followed it (undefined when there was no `--`).
 */
export function splitNameAndCommand(operands: readonly string[], afterDashDash: readonly string[] | undefined): { name?: string; command: string[] } {
  const before = afterDashDash ? operands.slice(0, operands.length - afterDashDash.length) : operands.slice(0, 1);
  const command = afterDashDash ? [...afterDashDash] : operands.slice(1);
  if (before.length > 1) {
    throw new UsageError(`one instance name before --, got ${before.map((a) => JSON.stringify(a)).join(' ')}`, { hint: 'vexfs-image ssh NAME -- COMMAND...' });
  }
  return before[0] === undefined ? { command } : { name: before[0], command };
}

function names(entries: readonly InstanceEntry[]): string {
  return entries.map((e) => e.state.name).join(', ');
}

/** The running instance to connect to: the named one, else the only one. Usage errors otherwise. */
export function selectInstance(name: string | undefined, entries: readonly InstanceEntry[]): InstanceEntry {
  const running = entries.filter((e) => e.running);
  let hit: InstanceEntry | undefined;
  if (name !== undefined) {
    hit = running.find((e) => e.state.name === name);
    if (!hit) {
      const stale = entries.find((e) => e.state.name === name);
      if (stale) throw new UsageError(`instance ${name} is not running (its run process ${stale.state.pid} is gone)`, { hint: `start it again: vexfs-image run ${stale.state.image} --name ${name}` });
      throw new UsageError(
        running.length ? `no running instance named ${name}; running: ${names(running)}` : `no running instance named ${name}: no instance is running`,
        { hint: running.length ? 'vexfs-image ssh --list shows them' : `start one: vexfs-image run IMAGE --name ${name}` },
      );
    }
  } else {
    if (running.length === 0) throw new UsageError('no instance is running', { hint: 'start one: vexfs-image run IMAGE' });
    if (running.length > 1) throw new UsageError(`${running.length} instances are running: ${names(running)}`, { hint: 'name one: vexfs-image ssh NAME' });
    hit = running[0]!;
  }
  if (hit.state.status === 'stopping') throw new UsageError(`instance ${hit.state.name} is powering off`, { hint: 'start it again with vexfs-image run once it has stopped' });
  if (hit.state.status !== 'ready' || !hit.state.sshPort) {
    throw new UsageError(`instance ${hit.state.name} is still starting: SSH is not up yet`, { hint: 'wait for the "ready:" line of its vexfs-image run' });
  }
  return hit;
}

/** What `run` prints on stdout once SSH works: scripts wait for the line starting "ready: ". */
export function readyLines(state: Pick<InstanceState, 'name' | 'key' | 'knownHosts' | 'sshPort' | 'user'>): string {
  return `ready: vexfs-image ssh ${state.name}\n   or: ${plainSshCommand(state)}\n`;
}
