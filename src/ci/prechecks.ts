// Pre-build checks of the CI pipeline: the guest scripts parse (`bash -n`) and pass shellcheck
// (when it is installed; warnings and errors fail, style notes do not).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PreconditionError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';
import { run } from '../tools/exec.js';

/** Every shell script under dir: *.sh, and files whose first line is a sh/bash shebang. */
export function findShellScripts(dir: string = GUEST_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name.endsWith('.sh')) out.push(p);
      else if (st.size > 2 && st.size < 1024 * 1024) {
        const head = readFileSync(p, 'utf8').slice(0, 100).split('\n')[0] ?? '';
        if (/^#!\s*\S*\/(env\s+)?(ba|da)?sh\b/.test(head)) out.push(p);
      }
    }
  };
  walk(dir);
  return out;
}

export interface ScriptCheckResult {
  scripts: number;
  shellcheck: 'passed' | 'not installed';
}

export async function checkShellScripts(opts: { dir?: string; signal?: AbortSignal; logFile?: string } = {}): Promise<ScriptCheckResult> {
  const dir = opts.dir ?? GUEST_DIR;
  const scripts = findShellScripts(dir);
  const bad: string[] = [];
  for (const s of scripts) {
    const r = await run('bash', ['-n', s], { allowFailure: true, timeoutMs: 30_000, signal: opts.signal, logFile: opts.logFile });
    if (r.exitCode !== 0) bad.push(`${relative(dir, s)}: ${r.stderr.trim().split('\n')[0] ?? `bash -n exit ${r.exitCode}`}`);
  }
  if (bad.length) throw new PreconditionError(`guest scripts do not parse (bash -n): ${bad.join('; ')}`, { hint: `fix the scripts under ${dir}` });
  const probe = await run('shellcheck', ['--version'], { allowFailure: true, timeoutMs: 30_000, signal: opts.signal }).catch(() => undefined);
  if (!probe || probe.exitCode !== 0) return { scripts: scripts.length, shellcheck: 'not installed' };
  if (scripts.length) {
    const r = await run('shellcheck', ['--severity=warning', '--format=gcc', ...scripts], { allowFailure: true, timeoutMs: 120_000, signal: opts.signal, logFile: opts.logFile });
    if (r.exitCode !== 0) {
      const findings = r.stdout.trim().split('\n').filter(Boolean);
      throw new PreconditionError(`shellcheck found ${findings.length} problem(s) in the guest scripts: ${findings.slice(0, 5).map((l) => l.replace(`${dir}/`, '')).join('; ')}`, {
        hint: `run: shellcheck --severity=warning ${relative(process.cwd(), dir) || '.'}/**/*.sh`,
      });
    }
  }
  return { scripts: scripts.length, shellcheck: 'passed' };
}
