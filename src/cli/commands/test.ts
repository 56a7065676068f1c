// `vexfs-image test`: the quick module test (src/quick/): seconds from a source edit to the
// module loaded, exercised and unloaded on the image's own kernel. --watch reruns it on changes.
import { watch } from 'node:fs';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { quickTest } from '../../api.js';
import { resolveBuildPlan, type BuildFlags } from '../../config/load.js';
import { checkDirArg } from '../../config/dir-arg.js';
import { parseFormats } from '../../report/write.js';
import { QUICK_DEFAULTS, type QuickTestResult } from '../../quick/index.js';
import { chooseRenderer, createRenderer } from '../../ui/renderers.js';
import type { CliContext } from '../context.js';
import { intOption } from '../options.js';

interface TestCliOptions {
  source?: string;
  config?: string;
  base?: string;
  variant?: string;
  version?: string;
  cacheDir?: string;
  reportDir: string;
  format: string;
  timeout: number;
  watch?: boolean;
  buildCommand?: string;
  busybox?: string;
}

function summary(r: QuickTestResult, ms: number): string {
  const img = r.report.images[0]!;
  const bad = img.checks.filter((c) => c.status === 'failed' || c.status === 'error');
  const lines = [`${r.ok ? 'PASS' : 'FAIL'}: ${img.summary.passed}/${img.summary.total} checks on ${r.kernelRelease || 'the image\'s kernel'} in ${(ms / 1000).toFixed(1)} s (${Object.entries(r.phasesMs).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')})`];
  for (const c of bad) lines.push(`  failed: ${c.id}: ${c.message}${c.output ? `\n${c.output.split('\n').slice(0, 10).map((l) => `    | ${l}`).join('\n')}` : ''}`);
  if (img.error) lines.push(`  error: ${img.error.kind}: ${img.error.message}`);
  for (const [f, p] of Object.entries(r.reports)) lines.push(`  ${f}: ${p}`);
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('test')
    .description('quick module test: build the payload against the image\'s kernel headers on the host, boot that kernel into an initramfs, load, exercise and unload the modules')
    .argument('[image]', 'image whose kernel and headers to use (default: the build\'s base, which has the headers and compiler)')
    .option('--source <dir>', 'source tree (default: the bundled examples/vexfs)')
    .option('--config <file>', 'config file (default: <source>/vexfs-image.yaml)')
    .option('--base <spec>', 'base whose kernel to use when no IMAGE is given (default: debian-13)')
    .option('--variant <name>', 'variant whose base package set to use (default: minimal)')
    .option('--version <version>', 'version to stamp and expect (default: 1.0.0, env VEXFS_VERSION)')
    .option('--build-command <cmd>', 'the payload\'s build command (default: payload.build.command, else make vm-build)')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--report-dir <dir>', 'where to write the reports', QUICK_DEFAULTS.reportDir)
    .option('--format <list>', 'report formats: json, junit, md, html (comma-separated)', 'json,junit')
    .option('--timeout <seconds>', 'power-on to the guest\'s result', intOption('--timeout'), QUICK_DEFAULTS.timeoutS)
    .option('--busybox <path>', 'static busybox for the initramfs (default: /bin/busybox, Debian package busybox-static)')
    .option('--watch', 'run again on every change under the source tree (Ctrl-C to stop)')
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image test                                   the bundled example on debian-13's kernel
  $ vexfs-image test --source ~/src/vexfs --watch      rerun on every save
  $ vexfs-image test images/vexfs-development-1.0.0.qcow2
Checks, per declared module (payload.modules): insmod, /sys/module, its version; each tool's
version command; for a filesystem module: mount, write/read, 1 MiB copy, directories, statfs, a
second instance, rmmod refused while mounted, umount; rmmod; a clean kernel log and taint.
It complements validate's full boot of the deployable image and never replaces it.
Exit status: 0 every check passed, 1 a check failed or the guest gave no result, 2 bad usage.`,
    )
    .action(async (image: string | undefined, o: TestCliOptions, cmd: Command) => {
      const quiet = Boolean(cmd.optsWithGlobals<{ quiet?: boolean }>().quiet);
      const formats = parseFormats(o.format);
      const reportDir = checkDirArg(o.reportDir, '--report-dir', process.cwd());
      const flags: BuildFlags = { source: o.source, config: o.config, base: o.base, variant: o.variant ?? 'minimal', version: o.version, cacheDir: o.cacheDir, payload: { buildCommand: o.buildCommand } };
      // Resolved here too: bad input is exit 2 before the first run, and --watch needs the source.
      const plan = resolveBuildPlan(flags, ctx.env);
      const once = async (): Promise<boolean> => {
        const renderer = createRenderer(chooseRenderer({ quiet, env: ctx.env, stream: ctx.stderr }), ctx.stderr);
        const t0 = Date.now();
        try {
          const r = await quickTest({ ...flags, env: ctx.env, ...(image ? { image: resolve(image) } : {}), reportDir, reportFormats: formats, timeoutS: o.timeout, ...(o.busybox ? { busybox: o.busybox } : {}), signal: ctx.signal, emit: renderer.sink });
          renderer.done();
          ctx.stdout.write(`${summary(r, Date.now() - t0)}\n`);
          return r.ok;
        } finally {
          renderer.done();
        }
      };
      let ok = await once();
      if (o.watch) ok = await watchLoop(plan.sourceDir, once, ctx);
      ctx.setOutcome(ok ? 'ok' : 'failed');
    });
}

/** Reruns on every change under dir (debounced; one run at a time) until the signal aborts. */
async function watchLoop(dir: string, once: () => Promise<boolean>, ctx: CliContext): Promise<boolean> {
  let ok = true;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  ctx.stderr.write(`watching ${dir} (Ctrl-C to stop)\n`);
  const trigger = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          ok = await once();
        } catch (e) {
          ok = false;
          ctx.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
        }
      } while (again && !ctx.signal.aborted);
      running = undefined;
    })();
  };
  // Node >= 20 watches recursively on Linux (inotify per directory).
  const w = watch(dir, { recursive: true, signal: ctx.signal }, () => {
    clearTimeout(timer);
    timer = setTimeout(trigger, 150);
  });
  w.on('error', () => undefined);
  await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
  clearTimeout(timer);
  await running;
  return ok;
}
