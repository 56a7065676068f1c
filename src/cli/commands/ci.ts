// `vexfs-image ci` (the spec's CI/CD pipeline) and `vexfs-image ci merge` (combine the shards
// of a CI matrix).
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { LAYOUT } from '../../ci/artifacts.js';
import { ci as runCi, mergeCi } from '../../api.js';
import { DEFAULT_JOBS } from '../../ci/defaults.js';
import { preflightCi, preflightMerge } from '../../ci/preflight.js';
import { summaryText } from '../../ci/summary.js';
import { chooseRenderer, createRenderer } from '../../ui/renderers.js';
import { VALIDATE_DEFAULTS } from '../../validate/index.js';
import type { CliContext } from '../context.js';
import type { MatrixProfile } from '../../ci/variant-run.js';
import { loadConfig } from '../../config/load.js';
import { profileLabel, resolveHardware } from '../../vm/profile.js';
import { profilesFromFlags } from './validate.js';
import { parseArchList } from '../../arch.js';
import { assertArchHost } from '../../tools/arch-host.js';
import { addBuildVmOptions, buildVmFlags, intOption, type BuildVmCliOptions } from '../options.js';

export interface CiCliOptions extends BuildVmCliOptions {
  variant?: string[];
  jobs: number;
  failFast?: boolean;
  artifactsDir: string;
  force?: boolean;
  version?: string;
  bootTimeout?: number;
  sshTimeout?: number;
  notifyUrl?: string;
  json?: boolean;
  profile?: string[];
  arch?: string[];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** ci --profile values as matrix rows (same syntax and checks as validate --profile). */
export function matrixFromFlags(texts: readonly string[] | undefined, env: NodeJS.ProcessEnv, what = '--profile'): MatrixProfile[] {
  return profilesFromFlags(texts, env, what).map((choice) => ({ choice, label: profileLabel(choice), hardware: resolveHardware(choice, env) }));
}

export function register(program: Command, ctx: CliContext): void {
  const quiet = (): boolean | undefined => program.opts<{ quiet?: boolean }>().quiet;
  const ci = program
    .command('ci')
    .description('the CI pipeline: checks, build and validate every variant, artifacts (manifest, checksums, reports, logs), notification')
    .option('--variant <names>', 'variant(s) to build: repeat or comma-separate (default: every configured variant)', collect)
    .option('-j, --jobs <n>', 'variants built and validated at the same time (each VM then gets cores/N vCPUs unless --cpus)', intOption('--jobs'), DEFAULT_JOBS)
    .option('--fail-fast', 'stop everything at the first failed variant (default: keep going and report all)')
    .option('--artifacts-dir <dir>', 'where images, build-manifest.json, checksums.sha256, reports and logs go', 'artifacts')
    .option('--force', 'replace the output of an earlier run in the artifacts directory')
    .option('--version <version>', 'VexFS version (default: VEXFS_VERSION, else the tag CI_TAG=v1.2.3 -> 1.2.3, else the config)');
  addBuildVmOptions(ci, {
    buildDir: 'working directory for VMs (default: build)',
    timeout: 'deadline for each in-VM build (default: 1800)',
    cleanup: 'keep VM directories for debugging',
    cpus: 'vCPUs per VM, build and validation (default: 2; with --jobs N: cores/N)',
  })
    .option('--boot-timeout <seconds>', `validation: seconds to SSH-ready (default: ${VALIDATE_DEFAULTS.bootTimeoutS})`, intOption('--boot-timeout'))
    .option('--ssh-timeout <seconds>', `validation: seconds per guest command (default: ${VALIDATE_DEFAULTS.sshTimeoutS})`, intOption('--ssh-timeout'))
    .option('--notify-url <url>', 'POST a JSON summary (Slack-compatible "text") here (default: VEXFS_NOTIFY_URL)')
    .option('--json', 'print build-manifest.json on stdout instead of the summary table')
    .option('--arch <arches>', 'architectures to build every variant for: repeat or comma-separate, e.g. amd64,arm64 (default: arch in the config, else amd64); arm64 images are named ...-arm64', collect)
    .option('--profile <profile>', 'validate each image under this VM profile (repeatable: the matrix, a report row per variant and profile), as for validate --profile: e.g. uefi,nvme,512M', collect)
    .addHelpText(
      'after',
      `
Inputs (environment): CI_TAG (v1.2.3 -> version 1.2.3), CI_BUILD_NUMBER, CI_COMMIT_SHA, VEXFS_VERSION,
VEXFS_NOTIFY_URL; GitHub Actions' and GitLab CI's own variables are used when these are unset.
Exit status: 0 when every variant was built and validated, 1 otherwise, 2 bad input, 130 interrupted.

Examples:
  $ vexfs-image ci                                        # every variant, one at a time
  $ CI_TAG=v1.0.0 CI_BUILD_NUMBER=123 vexfs-image ci
  $ vexfs-image ci --variant minimal,production --jobs 2 --fail-fast
  $ vexfs-image ci --variant minimal --artifacts-dir shard-minimal     # one shard of a CI matrix
  $ vexfs-image ci --variant minimal --arch amd64,arm64                # both architectures
  $ vexfs-image ci merge shard-* --artifacts-dir artifacts             # combine the shards`,
    )
    .action(async (o: CiCliOptions) => {
      // The matrix judged (values, memory, OVMF on the host) before anything starts.
      const cfg = o.profile?.length ? undefined : loadConfig({ config: o.config, source: o.source }, process.cwd());
      const profiles = cfg ? matrixFromFlags(cfg.file.profiles, ctx.env, `profiles in ${cfg.configPath ?? 'the config'}`) : matrixFromFlags(o.profile, ctx.env);
      // The architecture axis, and each one's emulator, firmware and qemu-user, before anything is written.
      const arches = o.arch ? parseArchList(o.arch) : undefined;
      for (const a of arches ?? []) assertArchHost(a, ['vm', 'base'], ctx.env);
      const renderer = createRenderer(chooseRenderer({ env: ctx.env, quiet: quiet() }));
      await preflightCi({ variants: o.variant ?? [], version: o.version, buildFlags: buildVmFlags(o), artifactsDir: o.artifactsDir, notifyUrl: o.notifyUrl }, ctx.env, process.cwd());
      try {
        const r = await runCi({
          variants: o.variant ?? [],
          jobs: o.jobs,
          failFast: o.failFast ?? false,
          artifactsDir: resolve(o.artifactsDir),
          force: o.force ?? false,
          version: o.version,
          ...(arches ? { arches } : {}),
          buildFlags: buildVmFlags(o),
          notifyUrl: o.notifyUrl,
          bootTimeoutS: o.bootTimeout,
          sshTimeoutS: o.sshTimeout,
          ...(profiles.length ? { profiles } : {}),
          env: ctx.env,
          cwd: process.cwd(),
          signal: ctx.signal,
          emit: renderer.sink,
        });
        renderer.done();
        ctx.stdout.write(o.json ? `${JSON.stringify(r.manifest, null, 2)}\n` : summaryText(r.manifest, r.artifactsDir));
        ctx.setOutcome(r.status);
      } finally {
        renderer.done();
      }
    });

  const merge = ci
    .command('merge')
    .description('combine the artifacts directories of CI shards (ci --variant X) into one manifest, checksums file and set of reports')
    .argument('<shard-dirs...>', 'artifacts directories of the shards')
    .option('--artifacts-dir <dir>', 'where the merged manifest, checksums, reports (and linked images) go', 'artifacts')
    .option('--force', 'replace the output of an earlier run there')
    .option('--no-verify', 'do not re-hash the image files found in the shards')
    .option('--notify-url <url>', 'POST a JSON summary of the whole matrix here (default: VEXFS_NOTIFY_URL)')
    .option('--json', 'print the merged build-manifest.json on stdout')
    .addHelpText(
      'after',
      `
Image files present in a shard are verified and hard-linked (or copied) into <artifacts-dir>/${LAYOUT.images}/.
A shard uploaded without its images keeps its checksum lines; put the images there before sha256sum -c.

Examples:
  $ vexfs-image ci merge shards/* --artifacts-dir artifacts
  $ (cd artifacts && sha256sum -c checksums.sha256)`,
    )
    .action(async (dirs: string[], o: { artifactsDir: string; force?: boolean; verify: boolean; notifyUrl?: string; json?: boolean }) => {
      preflightMerge(o, ctx.env, process.cwd());
      const renderer = createRenderer(chooseRenderer({ env: ctx.env, quiet: quiet() }));
      try {
        const r = await mergeCi({
          shards: dirs,
          artifactsDir: o.artifactsDir,
          force: o.force ?? false,
          verify: o.verify,
          notifyUrl: o.notifyUrl,
          env: ctx.env,
          cwd: process.cwd(),
          signal: ctx.signal,
          emit: renderer.sink,
        });
        renderer.done();
        ctx.stdout.write(o.json ? `${JSON.stringify(r.manifest, null, 2)}\n` : summaryText(r.manifest, resolve(o.artifactsDir)));
        ctx.setOutcome(r.ok ? 'ok' : 'failed');
      } finally {
        renderer.done();
      }
    });
  merge.exitOverride().configureOutput({ outputError: () => undefined, writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
}
