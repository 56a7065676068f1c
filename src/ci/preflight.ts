// `ci` inputs checked before the pipeline starts. The orchestrator finds most of these too, but
// only after it has run git, written the artifacts directory and probed the host; bad input must
// be exit 2 with nothing written or started. Nothing here runs a process (git is left out: the
// commit is only looked up, by the real run, when no variable gives it).
import { join, resolve } from 'node:path';
import { checkDirArg } from '../config/dir-arg.js';
import { loadConfig, resolveBuildPlan, type BuildFlags } from '../config/load.js';
import { resolveCiInputs, selectVariants } from './inputs.js';
import { checkNotifyUrl } from './notify.js';

export interface CiPreflight {
  variants: readonly string[];
  version?: string;
  buildFlags: BuildFlags;
  artifactsDir: string;
  notifyUrl?: string;
}

export async function preflightCi(o: CiPreflight, env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  const inputs = await resolveCiInputs(env, { version: o.version, gitHead: async () => undefined });
  const root = checkDirArg(o.artifactsDir, '--artifacts-dir', cwd);
  const cfg = loadConfig(o.buildFlags, cwd);
  const names = selectVariants(o.variants, Object.keys(cfg.variants));
  for (const variant of names) resolveBuildPlan({ ...o.buildFlags, variant, version: inputs.version, outputDir: join(root, 'images') }, env, cwd);
  checkNotifyUrlInput(o.notifyUrl, env);
}

/** --notify-url, else VEXFS_NOTIFY_URL, when given. */
export function checkNotifyUrlInput(flag: string | undefined, env: NodeJS.ProcessEnv): void {
  if (flag !== undefined) checkNotifyUrl(flag, '--notify-url');
  else if (env.VEXFS_NOTIFY_URL) checkNotifyUrl(env.VEXFS_NOTIFY_URL, 'VEXFS_NOTIFY_URL');
}

export function preflightMerge(o: { artifactsDir: string; notifyUrl?: string }, env: NodeJS.ProcessEnv, cwd: string): void {
  checkDirArg(resolve(cwd, o.artifactsDir), '--artifacts-dir', cwd);
  checkNotifyUrlInput(o.notifyUrl, env);
}
