// The CI pipeline's inputs (the spec's CI_TAG, CI_BUILD_NUMBER, CI_COMMIT_SHA, VEXFS_VERSION),
// falling back to GitHub Actions' and GitLab CI's own variables, then to `git rev-parse HEAD`.
import { checkVariantName, checkVersion } from '../config/names.js';
import { UsageError } from '../errors.js';
import { gitHead } from '../tools/git.js';

export type CiProvider = 'github-actions' | 'gitlab-ci' | 'generic' | 'local';

export interface CiInputs {
  provider: CiProvider;
  buildNumber: string;
  buildNumberFrom: string;
  commitSha: string | null;
  commitShaFrom: string;
  /** The tag this run builds, when there is one (v1.2.3). */
  tag: string | null;
  /** The version to stamp, when the inputs decide it (undefined: the config/default decides). */
  version: string | undefined;
  versionFrom: string | undefined;
}

function first(env: NodeJS.ProcessEnv, names: readonly string[]): { value: string; from: string } | undefined {
  for (const n of names) {
    const v = env[n]?.trim();
    if (v) return { value: v, from: n };
  }
  return undefined;
}

export function detectProvider(env: NodeJS.ProcessEnv): CiProvider {
  if (env.GITHUB_ACTIONS === 'true') return 'github-actions';
  if (env.GITLAB_CI === 'true') return 'gitlab-ci';
  if (env.CI === 'true' || env.CI === '1' || env.CI_BUILD_NUMBER) return 'generic';
  return 'local';
}

/** The tag of this run: CI_TAG, else GitHub's ref when it is a tag, else GitLab's CI_COMMIT_TAG. */
export function tagFrom(env: NodeJS.ProcessEnv): { value: string; from: string } | undefined {
  const explicit = first(env, ['CI_TAG']);
  if (explicit) return explicit;
  if (env.GITHUB_REF_TYPE === 'tag' && env.GITHUB_REF_NAME) return { value: env.GITHUB_REF_NAME, from: 'GITHUB_REF_NAME' };
  if (env.GITHUB_REF?.startsWith('refs/tags/')) return { value: env.GITHUB_REF.slice('refs/tags/'.length), from: 'GITHUB_REF' };
  return first(env, ['CI_COMMIT_TAG']);
}

/** `v1.2.3` -> `1.2.3`, `1.2.3-rc1` -> itself; anything else is not a version tag. */
export function versionFromTag(tag: string, from = 'CI_TAG'): string {
  const v = /^v\d/.test(tag) ? tag.slice(1) : tag;
  if (!/^\d/.test(v)) {
    throw new UsageError(`tag ${JSON.stringify(tag)} (from ${from}) is not a version tag`, {
      hint: 'tag releases as v1.2.3 (or 1.2.3), or set VEXFS_VERSION to choose the version explicitly',
    });
  }
  return checkVersion(v, from);
}

export interface ResolveInputsOptions {
  /** --version */
  version?: string;
  /** Where `git rev-parse HEAD` runs when no variable gives the commit. */
  gitDirs?: readonly string[];
  signal?: AbortSignal;
  /** Injected in tests. */
  gitHead?: (dir: string) => Promise<string | undefined>;
}


/**
 * Version precedence: --version > VEXFS_VERSION > the tag (v1.2.3 -> 1.2.3) > vexfs-image.yaml >
 * default. An explicit VEXFS_VERSION beats the tag so that a pipeline can pin it; a tag that is
 * not a version is an error only when it would decide the version.
 */
export async function resolveCiInputs(env: NodeJS.ProcessEnv, opts: ResolveInputsOptions = {}): Promise<CiInputs> {
  const provider = detectProvider(env);
  const bn = first(env, ['CI_BUILD_NUMBER', 'GITHUB_RUN_NUMBER', 'CI_PIPELINE_IID', 'CI_PIPELINE_ID', 'BUILD_NUMBER']);
  let commit = first(env, ['CI_COMMIT_SHA', 'GITHUB_SHA']);
  if (!commit) {
    const head = opts.gitHead ?? ((d: string) => gitHead(d, { signal: opts.signal }));
    for (const dir of opts.gitDirs ?? [process.cwd()]) {
      const sha = await head(dir);
      if (sha) {
        commit = { value: sha, from: `git rev-parse HEAD (${dir})` };
        break;
      }
    }
  }
  if (commit && !/^[0-9a-fA-F]{7,64}$/.test(commit.value)) {
    throw new UsageError(`invalid commit sha ${JSON.stringify(commit.value)} (from ${commit.from}): expected hexadecimal`);
  }
  const tag = tagFrom(env);
  let version: string | undefined;
  let versionFrom: string | undefined;
  if (opts.version !== undefined) [version, versionFrom] = [checkVersion(opts.version, '--version'), '--version'];
  else if (env.VEXFS_VERSION) [version, versionFrom] = [checkVersion(env.VEXFS_VERSION, 'VEXFS_VERSION'), 'VEXFS_VERSION'];
  else if (tag) [version, versionFrom] = [versionFromTag(tag.value, tag.from), tag.from];
  return {
    provider,
    buildNumber: bn?.value ?? 'local',
    buildNumberFrom: bn?.from ?? 'default',
    commitSha: commit?.value.toLowerCase() ?? null,
    commitShaFrom: commit?.from ?? 'none',
    tag: tag?.value ?? null,
    version,
    versionFrom,
  };
}

/**
 * `--variant a --variant b,c` -> [a, b, c] (order kept, duplicates dropped); none -> every
 * configured variant. Unknown names are a usage error listing the known ones.
 */
export function selectVariants(requested: readonly string[], known: readonly string[]): string[] {
  const names = requested.flatMap((r) => r.split(',')).map((s) => s.trim());
  if (requested.length && names.every((n) => n === '')) throw new UsageError('--variant: no variant named');
  const out: string[] = [];
  for (const n of names) {
    if (n === '') continue;
    checkVariantName(n, '--variant');
    if (!known.includes(n)) {
      throw new UsageError(`unknown variant ${JSON.stringify(n)} (from --variant): known variants are ${known.join(', ')}`, {
        hint: 'define it under "variants:" in vexfs-image.yaml',
      });
    }
    if (!out.includes(n)) out.push(n);
  }
  return out.length ? out : [...known];
}
