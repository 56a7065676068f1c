// `vexfs-image ssh [NAME] [-- COMMAND...]`: the system ssh into an instance started by
// `vexfs-image run`, on this terminal; exits with ssh's status (the remote command's).
// `ssh --list` shows the running instances.
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { instances, ssh } from '../../api.js';
import { plainSshCommand, splitNameAndCommand } from '../../run/connect.js';
import type { InstanceEntry } from '../../run/state.js';
import type { CliContext } from '../context.js';

interface SshCliOptions {
  list?: boolean;
  json?: boolean;
  tty?: boolean;
}

/** 42s, 5m03s, 2h05m. */
export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `ssh --list --json`: one object per running instance. */
export function listJson(entries: readonly InstanceEntry[], now = Date.now()): object[] {
  return entries
    .filter((e) => e.running)
    .map(({ dir, state: s }) => ({
      name: s.name,
      image: s.image,
      status: s.status,
      sshPort: s.sshPort ?? null,
      user: s.user,
      pid: s.pid,
      qemuPid: s.qemuPid ?? null,
      startedAt: s.startedAt,
      uptimeS: Math.max(0, Math.round((now - Date.parse(s.startedAt)) / 1000)),
      dir,
      key: s.key,
      knownHosts: s.knownHosts,
      ssh: s.sshPort ? plainSshCommand(s) : null,
    }));
}

export function listText(entries: readonly InstanceEntry[], now = Date.now()): string {
  const running = entries.filter((e) => e.running);
  if (!running.length) return 'no instance is running (start one: vexfs-image run IMAGE)\n';
  const rows = [['NAME', 'STATUS', 'PORT', 'UPTIME', 'USER', 'IMAGE']];
  for (const { state: s } of running) {
    rows.push([s.name, s.status, s.sshPort ? String(s.sshPort) : '-', formatUptime(now - Date.parse(s.startedAt)), s.user, s.image]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('ssh')
    .description('open a shell, or run a command, in an instance started by `vexfs-image run`')
    .argument('[name]', 'instance name (default: the only running instance)')
    .argument('[command...]', 'command to run instead of a login shell (after --)')
    .option('--list', 'list the running instances (name, status, SSH port, uptime, user, image)')
    .option('--json', 'with --list: print them as JSON')
    .option('-t, --tty', 'give COMMAND a terminal (full-screen programs such as top)')
    .addHelpText(
      'after',
      `
Runs the system ssh with the instance's key and port and its own known_hosts (the guest's
host key was recorded by run; a different one is refused), on this terminal. The exit status
is ssh's: the remote command's, or 255 when ssh itself failed. One COMMAND argument is a shell
command line, as with ssh ('dmesg | tail'); several are run as given, each word quoted, so
-- sh -c 'exit 3' exits 3.

Examples:
  $ vexfs-image ssh                               log in to the only running instance
  $ vexfs-image ssh dev                           log in to instance dev
  $ vexfs-image ssh dev -- uname -r
  $ vexfs-image ssh dev -- 'sudo dmesg | tail'
  $ vexfs-image ssh -t dev -- sudo journalctl -f
  $ vexfs-image ssh --list --json
Exit status: the remote command's (ssh's), 2 bad usage: no such instance, none or several
running and no NAME, or the instance is still starting.`,
    );
  // Commander drops the `--` from the operands: note what followed it, to tell NAME from COMMAND.
  let afterDashDash: string[] | undefined;
  const parseOptions = cmd.parseOptions.bind(cmd);
  cmd.parseOptions = (args: string[]) => {
    const i = args.indexOf('--');
    afterDashDash = i >= 0 ? args.slice(i + 1) : undefined;
    return parseOptions(args);
  };
  cmd.action(async (_name: string | undefined, _command: string[], o: SshCliOptions, self: Command) => {
    if (o.list) {
      if (self.args.length) throw new UsageError('--list takes no NAME or COMMAND');
      const entries = await instances({ env: ctx.env });
      ctx.stdout.write(o.json ? `${JSON.stringify(listJson(entries), null, 2)}\n` : listText(entries));
      // Left by a run that was killed: say where, and what removes it.
      for (const e of entries.filter((x) => !x.running)) {
        ctx.stderr.write(`stale: ${e.dir} (its run, pid ${e.state.pid}, is gone; the next run --name ${e.state.name} removes it, or rm -r it)\n`);
      }
      return;
    }
    if (o.json) throw new UsageError('--json goes with --list');
    const { name, command } = splitNameAndCommand(self.args, afterDashDash);
    ctx.setOutcome(await ssh({ name, command, tty: o.tty, env: ctx.env, signal: ctx.signal }));
  });
}
