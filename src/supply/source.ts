// Facts about the source tree for provenance and SOURCE_DATE_EPOCH: the tree object of exactly
// the source directory at HEAD, whether the working tree differs from it, the commit's time.
// A tree that is not a git checkout has none of these: undefined, never an error.
import { UsageError } from '../errors.js';
import { run } from '../tools/exec.js';

export interface SourceFacts {
  /** git tree id of the source directory at HEAD (`git rev-parse HEAD:./`). */
  tree?: string;
  /** Files under the source directory that differ from HEAD (uncommitted or untracked). */
  dirty?: boolean;
  /** The committer time of HEAD, seconds since the epoch. */
  commitEpoch?: number;
}

async function git(dir: string, args: string[], signal?: AbortSignal): Promise<string | undefined> {
  const r = await run('git', ['-C', dir, ...args], { allowFailure: true, timeoutMs: 10_000, signal }).catch(() => undefined);
  return r?.exitCode === 0 ? r.stdout.trim() : undefined;
}

export async function sourceFacts(dir: string, signal?: AbortSignal): Promise<SourceFacts> {
  const tree = await git(dir, ['rev-parse', 'HEAD:./'], signal);
  if (!tree || !/^[0-9a-f]{40,64}$/.test(tree)) return {};
  const status = await git(dir, ['status', '--porcelain', '--', '.'], signal);
  const epoch = Number(await git(dir, ['log', '-1', '--format=%ct'], signal));
  return { tree, ...(status !== undefined ? { dirty: status !== '' } : {}), ...(Number.isInteger(epoch) && epoch > 0 ? { commitEpoch: epoch } : {}) };
}

/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org): the environment's when it is set (it must be a
 * whole number of seconds), else the source commit's time. undefined when neither exists.
 */
export function sourceDateEpoch(env: NodeJS.ProcessEnv, facts: SourceFacts): number | undefined {
  return envSourceDateEpoch(env) ?? facts.commitEpoch;
}

/** The environment's SOURCE_DATE_EPOCH; a malformed one is bad input (checked before a build starts). */
export function envSourceDateEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw)) throw new UsageError(`SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, not ${JSON.stringify(raw.slice(0, 40))}`);
  return Number(raw);
}
