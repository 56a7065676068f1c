// git: the commit a source tree is at (for manifests and CI inputs). A tree that is not a git
// checkout, or a host without git, has no commit: undefined, never an error.
import { run } from './exec.js';

export async function gitHead(dir: string, opts: { signal?: AbortSignal } = {}): Promise<string | undefined> {
  const r = await run('git', ['-C', dir, 'rev-parse', 'HEAD'], { allowFailure: true, timeoutMs: 10_000, ...opts }).catch(() => undefined);
  const sha = r?.exitCode === 0 ? r.stdout.trim() : '';
  return /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined;
}
