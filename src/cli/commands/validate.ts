// `vexfs-image validate [IMAGE...]`: boot each image on a throw-away overlay, run the checks,
// write JSON / JUnit / Markdown / HTML reports. Exit 1 when an error-severity check failed or an
// image could not be validated.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import pc from 'picocolors';
import { loadConfig } from '../../config/load.js';
import { checkDirArg } from '../../config/dir-arg.js';
import { checkVariantName, checkVersion } from '../../config/names.js';
import { precompileChecks } from '../../validate/precompile.js';
import { UsageError } from '../../errors.js';
import { rowName, type ImageResult, type ValidationReport } from '../../report/model.js';
import { parseFormats, REPORT_FORMATS, type ReportFormat } from '../../report/write.js';
import { chooseRenderer, createRenderer } from '../../ui/renderers.js';
import { formatDuration } from '../../ui/format.js';
import { checksForVariant, parseChecks } from '../../validate/checks.js';
import { validate } from '../../api.js';
import { resolveCheckList, VALIDATE_DEFAULTS, type ValidateOptions } from '../../validate/index.js';
import { parseProfiles, resolveHardware } from '../../vm/profile.js';
import type { CliContext } from '../context.js';
import { parseArch } from '../../arch.js';

export interface ValidateCliOptions {
  imagesDir: string;
  bootTimeout: number;
  sshTimeout: number;
  cleanup: boolean;
  verbose?: boolean;
  reportDir: string;
  format: string[];
  jobs: number;
  checks?: string;
  config?: string;
  source?: string;
  variant?: string;
  version?: string;
  checksum?: boolean;
  cleanShutdown?: boolean;
  network?: boolean;
  workDir?: string;
  listChecks?: boolean;
  profile?: string[];
  arch?: string;
}

/** --profile is repeatable: each one a row per image in every report. */
export function collectProfiles(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** The matrix from --profile, judged (values, memory, OVMF on the host) before anything starts. */
export function profilesFromFlags(texts: readonly string[] | undefined, env: NodeJS.ProcessEnv, what = '--profile'): ReturnType<typeof parseProfiles> {
  const profiles = parseProfiles(texts ?? [], VALIDATE_DEFAULTS, what);
  for (const p of profiles) resolveHardware(p, env);
  return profiles;
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a whole number of at least 1, got ${JSON.stringify(v)}`);
    return n;
  };
}

function collectFormats(v: string, prev: string[] | undefined): string[] {
  try {
    parseFormats(v);
  } catch (e) {
    throw new InvalidArgumentError(e instanceof Error ? e.message : String(e));
  }
  return [...(prev === DEFAULT_FORMATS ? [] : (prev ?? [])), v];
}

const DEFAULT_FORMATS: string[] = [REPORT_FORMATS.join(',')];

/** Normalises parsed flags into library options (exported for unit tests). */
export function toValidateOptions(images: string[], o: ValidateCliOptions, ctx: Pick<CliContext, 'env'>, cwd = process.cwd()): ValidateOptions {
  const formats: ReportFormat[] = parseFormats(o.format);
  let checks;
  if (o.checks) {
    const file = resolve(cwd, o.checks);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new UsageError(`--checks ${o.checks}: cannot read ${file}`);
    }
    checks = parseChecks(text, file);
  }
  const cfg = loadConfig({ config: o.config, source: o.source }, cwd);
  // Everything checked here, before an image is looked at or a VM started.
  if (o.variant !== undefined) checkVariantName(o.variant, '--variant');
  if (o.version !== undefined) checkVersion(o.version, '--version');
  const arch = o.arch !== undefined ? parseArch(o.arch) : undefined;
  if (o.reportDir) checkDirArg(o.reportDir, '--report-dir', cwd);
  if (o.workDir) checkDirArg(o.workDir, '--work-dir', cwd);
  precompileChecks(resolveCheckList({ checks, userChecks: cfg.checks }), { version: o.version, variant: o.variant });
  // --profile, else the config's `profiles:` matrix.
  const profiles = o.profile?.length ? profilesFromFlags(o.profile, ctx.env) : profilesFromFlags(cfg.file.profiles, ctx.env, `profiles in ${cfg.configPath ?? 'the config'}`);
  return {
    ...(profiles.length ? { profiles, env: ctx.env } : {}),
    images,
    imagesDir: o.imagesDir,
    bootTimeoutS: o.bootTimeout,
    sshTimeoutS: o.sshTimeout,
    noCleanup: !o.cleanup,
    jobs: o.jobs,
    reportDir: o.reportDir,
    formats,
    // --checks replaces the built-in list; else the one derived from the config's payload.
    checks: checks ?? cfg.baseChecks,
    userChecks: cfg.checks,
    variant: o.variant,
    version: o.version,
    ...(arch ? { arch } : {}),
    checksum: o.checksum,
    cleanShutdown: o.cleanShutdown,
    network: o.network,
    workDir: o.workDir,
    cwd,
    githubStepSummary: ctx.env.GITHUB_STEP_SUMMARY || undefined,
  };
}

function imageLine(r: ImageResult): string {
  const t = r.timings;
  const status = r.status === 'passed' ? pc.green('PASSED') : r.status === 'failed' ? pc.red('FAILED') : pc.red('ERROR ');
  const times = `SSH ${t.sshReadyMs === null ? '–' : formatDuration(t.sshReadyMs)}, cloud-init ${t.cloudInitDoneMs === null ? '–' : formatDuration(t.cloudInitDoneMs)}, total ${formatDuration(t.totalMs)}`;
  const s = r.summary;
  const lines = [`${status} ${rowName(r)} (${r.variant} ${r.version}): ${s.passed}/${s.total} checks passed, ${s.failed} failed, ${s.warnings} warnings, ${s.skipped} skipped, ${s.errors} errors; ${times}`];
  if (r.error) {
    lines.push(`  ${pc.red(r.error.kind)}: ${r.error.message.split('\n')[0]}`);
    if (r.error.serialTail) lines.push(...r.error.serialTail.split('\n').map((l) => pc.dim(`  | ${l}`)));
  }
  for (const c of r.checks) {
    if (c.status === 'passed') continue;
    const tag = c.status === 'failed' ? (c.severity === 'error' ? pc.red('fail') : pc.yellow('warn')) : c.status === 'skipped' ? pc.dim('skip') : pc.red('err ');
    lines.push(`  ${tag} ${c.id}: ${c.message}`);
  }
  return lines.join('\n');
}

export function renderSummary(report: ValidationReport, files: Record<string, string>): string {
  const lines = report.images.map(imageLine);
  const s = report.summary;
  lines.push(
    `${report.ok ? pc.green('validation passed') : pc.red('validation failed')}: ${s.passed}/${s.images} image(s) passed (${formatDuration(report.durationMs)})`,
  );
  for (const [k, p] of Object.entries(files)) lines.push(pc.dim(`  ${k}: ${p}`));
  return lines.join('\n');
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('boot images on throw-away overlays and check that VexFS works; write JSON, JUnit, Markdown and HTML reports')
    .argument('[image...]', 'image files, or names in the images directory (default: every *.qcow2 there)')
    .option('-d, --images-dir <dir>', 'directory holding the images', VALIDATE_DEFAULTS.imagesDir)
    .option('--boot-timeout <seconds>', 'power-on to SSH-ready deadline', positiveInt('--boot-timeout'), VALIDATE_DEFAULTS.bootTimeoutS)
    .option('--ssh-timeout <seconds>', 'deadline for each command run over SSH (each check)', positiveInt('--ssh-timeout'), VALIDATE_DEFAULTS.sshTimeoutS)
    .option('--no-cleanup', 'keep the work directories (overlay, serial log, keys) and print where')
    .option('-v, --verbose', 'print every check result and the output of failing checks')
    .option('--report-dir <dir>', 'where to write the reports', VALIDATE_DEFAULTS.reportDir)
    .addOption(
      new Option('--format <formats>', `report formats, comma-separated or repeated: ${REPORT_FORMATS.join(', ')}`)
        .argParser(collectFormats)
        .default(DEFAULT_FORMATS, REPORT_FORMATS.join(',')),
    )
    .option('--jobs <n>', 'images validated at the same time', positiveInt('--jobs'), VALIDATE_DEFAULTS.jobs)
    .option('--checks <file>', 'YAML check list replacing the built-in one (checks from vexfs-image.yaml still apply)')
    .option('-c, --config <file>', 'vexfs-image.yaml with extra checks (default: the source tree\'s)')
    .option('--source <dir>', 'VexFS source tree whose vexfs-image.yaml to read')
    .option('--variant <name>', 'variant of images whose manifest and file name do not say')
    .option('--version <version>', 'version of images whose manifest and file name do not say')
    .option('--arch <arch>', 'architecture (amd64, arm64) of images whose manifest and file name do not say (default: amd64)')
    .option('--checksum', 'hash each image before and after, and against its manifest')
    .option('--clean-shutdown', 'power the guest off with ACPI at the end instead of stopping QEMU')
    .option('--network', 'give the guest the host\'s network (default: none beyond the SSH forward)')
    .option('--work-dir <dir>', 'parent of the per-image work directories (default: $TMPDIR)')
    .option(
      '--profile <profile>',
      'validate under this VM profile (repeatable: a matrix, one report row per image and profile): firmware bios|uefi, or secureboot (UEFI Secure Boot with the image\'s module certificate enrolled as a MOK; secureboot=nomok without), disk bus virtio-blk|virtio-scsi|nvme|sata, memory (512M, 2G), vCPUs (2cpu), comma-separated, e.g. uefi,nvme,512M (default: bios,virtio-blk,2G,2cpu)',
      collectProfiles,
    )
    .option('--list-checks', 'print the checks that would run (for --variant, default every variant) and exit')
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image validate                                   every *.qcow2 in ./images
  $ vexfs-image validate vexfs-production-1.0.0.qcow2      one image from ./images
  $ vexfs-image validate --boot-timeout 600 --verbose      slower machines
  $ vexfs-image validate -d out --format junit,md --report-dir reports
  $ vexfs-image validate --profile bios --profile uefi,nvme,512M   each image under two VM profiles
Exit status: 0 all images passed, 1 an error-severity check failed or an image could not be
validated (boot failure, SSH timeout), 2 bad usage, 130 interrupted.`,
    )
    .action(async (images: string[], o: ValidateCliOptions, cmd: Command) => {
      const quiet = Boolean(cmd.optsWithGlobals<{ quiet?: boolean }>().quiet);
      const opts = toValidateOptions(images, o, ctx);
      if (o.listChecks) {
        const list = resolveCheckList(opts);
        const shown = o.variant ? checksForVariant(list, o.variant) : list;
        for (const c of shown) {
          const only = c.variants ? ` [${c.variants.join(', ')} only]` : '';
          ctx.stdout.write(`${c.id.padEnd(24)} ${c.severity.padEnd(7)} ${c.type.padEnd(13)} ${c.description ?? ''}${only}\n`);
        }
        return;
      }
      const renderer = createRenderer(chooseRenderer({ quiet, env: ctx.env, stream: ctx.stderr }), ctx.stderr);
      let outcome;
      try {
        outcome = await validate({
          ...opts,
          signal: ctx.signal,
          emit: renderer.sink,
          onCheck: o.verbose
            ? (img, r) => {
                if (r.status !== 'passed' && r.output) ctx.stderr.write(pc.dim(`${img.name} ${r.id} output:\n${r.output.replace(/^/gm, '  | ')}\n`));
              }
            : undefined,
          onImageEnd: (r) => {
            if (r.logDir) ctx.stderr.write(`${r.name}: work directory kept at ${r.logDir}\n`);
          },
        });
      } finally {
        renderer.done();
      }
      ctx.stdout.write(`${renderSummary(outcome.report, outcome.files)}\n`);
      ctx.setOutcome(outcome.ok ? 'ok' : 'failed');
    });
}
