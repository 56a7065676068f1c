// `vexfs-image doctor`: host tools and accelerator report; --install fixes what it can.
import type { Command } from 'commander';
import pc from 'picocolors';
import { doctor } from '../../api.js';
import type { DoctorReport } from '../../doctor.js';
import type { CliContext } from '../context.js';
import { ARCHES, parseArchList } from '../../arch.js';

export function renderDoctor(r: DoctorReport): string {
  const lines: string[] = ['Host tools:'];
  const w = Math.max(...r.tools.map((t) => t.name.length));
  for (const t of r.tools) {
    const state = t.found ? pc.green('found  ') : pc.red('missing');
    const detail = t.found ? `${t.version ?? 'version unknown'}` : `install package ${t.debPackage}`;
    lines.push(`  ${t.name.padEnd(w)}  ${state}  ${detail}  ${pc.dim(`(${t.debPackage})`)}`);
  }
  lines.push('Accelerator:');
  if (!r.accelerator) lines.push(`  ${pc.red('not probed')}: qemu-system-x86_64 is missing`);
  else {
    for (const a of [r.accelerator.kvm, r.accelerator.tcg]) {
      lines.push(`  ${a.accel.toUpperCase().padEnd(3)}  ${a.usable ? pc.green('usable  ') : pc.red('unusable')}  ${a.reason}`);
    }
    const c = r.accelerator.chosen;
    lines.push(`  builds will use: ${c ? pc.bold(c.toUpperCase()) : pc.red('nothing (no usable accelerator)')}${r.accelerator.cached ? pc.dim(` (cached probe from ${r.accelerator.probedAt}; --refresh to re-probe)`) : ''}`);
  }
  if (r.architectures?.length) {
    lines.push('Guest architectures:');
    for (const a of r.architectures) {
      const state = a.ok ? pc.green('works   ') : a.installed ? pc.red('fails   ') : pc.yellow('missing ');
      const needs = a.items.map((i) => `${i.found ? pc.green('+') : pc.red('-')}${i.what} (${i.pkg})`).join(', ');
      lines.push(`  ${a.arch.padEnd(5)}  ${state}  ${a.probe ? a.probe.reason : `install: ${a.installCommand ?? ''}`}`);
      lines.push(pc.dim(`         needs: ${needs}`));
    }
  }
  if (r.installCommand) lines.push(`To install what is missing: ${r.installCommand}`);
  lines.push(`${r.ok ? pc.green('ready') : pc.red('not ready')} (${r.ms} ms)`);
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('doctor')
    .description('check host tools and which accelerator (KVM, TCG) really works')
    .option('--json', 'print the report as JSON on stdout')
    .option('--install', 'install missing Debian packages with apt-get (as root)')
    .option('--refresh', 'ignore the cached accelerator probe')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--arch <arches>', `guest architectures to check, comma-separated (default: ${ARCHES.join(',')}): host packages, and a probe guest of each under a deadline`)
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image doctor
  $ vexfs-image doctor --json | jq .accelerator.chosen
  $ sudo vexfs-image doctor --install`,
    )
    .action(async (opts: { json?: boolean; install?: boolean; refresh?: boolean; cacheDir?: string; arch?: string }) => {
      const arches = opts.arch !== undefined ? parseArchList(opts.arch) : undefined;
      const { arch: _a, ...rest } = opts;
      const report = await doctor({ ...rest, ...(arches ? { arches } : {}), env: ctx.env, signal: ctx.signal, onInfo: (m) => ctx.stderr.write(`${m}\n`) });
      ctx.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderDoctor(report)}\n`);
      ctx.setOutcome(report.ok ? 'ok' : 'failed');
    });
}
