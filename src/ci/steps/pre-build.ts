// CI stage 2: the config, the variants asked for, a source tree with a vm-build target and the
// guest scripts (bash -n, shellcheck), all checked before any VM starts.
import { join } from 'node:path';
import { loadConfig, resolveBuildPlan } from '../../config/load.js';
import { assertVmBuildTarget } from '../../builder/prepare.js';
import type { Step } from '../../pipeline/step.js';
import { LAYOUT } from '../artifacts.js';
import { buildFlagsOf, type CiContext } from '../context.js';
import { selectVariants } from '../inputs.js';
import { checkShellScripts } from '../prechecks.js';
import { STAGE_TITLES } from '../stages.js';
import { newImageRecord, planKey } from '../variant-run.js';

export const preBuildStep: Step<CiContext> = {
  name: 'pre-build',
  title: STAGE_TITLES['pre-build']!,
  skip: (ctx) => (ctx.stages.status('environment') === 'ok' ? undefined : 'environment setup failed'),
  async run(ctx) {
    const { opts } = ctx;
    const config = loadConfig(opts.buildFlags, opts.cwd);
    const names = selectVariants(ctx.requested, Object.keys(config.variants));
    const flags = buildFlagsOf(ctx);
    // Each variant for each architecture (--arch amd64,arm64); without --arch, the config's or amd64.
    const arches: ReadonlyArray<string | undefined> = opts.arches?.length ? opts.arches : [undefined];
    const plans = names.flatMap((variant) =>
      arches.map((arch) => resolveBuildPlan({ ...flags, variant, version: ctx.inputs.version, outputDir: join(ctx.root, LAYOUT.images), ...(arch ? { arch } : {}) }, opts.env, opts.cwd)),
    );
    // Known from here on, also when a later check fails: the manifest lists these variants.
    ctx.plans = plans;
    ctx.records = new Map(plans.map((p) => [planKey(p), newImageRecord(p.variantName, p.version, p.arch)]));
    assertVmBuildTarget(config.sourceDir, config.payload);
    const scripts = await (ctx.deps.checkScripts ?? checkShellScripts)({ signal: opts.signal, logFile: join(ctx.root, LAYOUT.logs, 'pre-build.log') });
    ctx.config = config;
    ctx.stages.describe('pre-build', {
      detail: `config ${config.configPath ?? 'built-in defaults'}; variants ${names.join(', ')}${opts.arches?.length ? ` for ${opts.arches.join(', ')}` : ''}; source ${config.sourceDir} has vm-build; ${scripts.scripts} guest scripts pass bash -n, shellcheck ${scripts.shellcheck}`,
    });
  },
};
