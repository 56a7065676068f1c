// apt-get: installing the host packages `doctor --install` names (Debian/Ubuntu hosts, as root).
import { run, type ExecOptions } from './exec.js';

export async function aptInstall(pkgs: readonly string[], opts: Pick<ExecOptions, 'signal' | 'logFile'> = {}): Promise<void> {
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { ...opts, env, timeoutMs: 600_000 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { ...opts, env, timeoutMs: 1_800_000 });
}
