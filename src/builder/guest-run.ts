// Runs a script from guest/build/ in the build VM as root, streaming its output to the step's
// log, and turns a failure into one clear error with the log's last lines.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommandError, GuestError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';
import { lastLines } from '../tools/exec.js';
import { sshScript, type SshTarget } from '../tools/ssh.js';
import type { StepRuntime } from '../pipeline/step.js';

export interface GuestRunResult {
  stdout: string;
  results: Record<string, string>;
}

/** `result.key=value` lines printed by guest scripts. */
export function parseResults(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^result\.([a-z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** `result.PREFIX_N=a<TAB>b...` lines as rows of fields, in N's order (not the lines' order). */
export function numberedResults(results: Record<string, string>, prefix: string): string[][] {
  const re = new RegExp(`^${prefix}_(\\d+)$`);
  return Object.keys(results)
    .flatMap((k) => {
      const m = re.exec(k);
      return m ? [{ n: Number(m[1]), fields: results[k]!.split('\t') }] : [];
    })
    .sort((a, b) => a.n - b.n)
    .map((r) => r.fields);
}

export async function runGuestScript(
  target: SshTarget,
  script: string,
  args: string[],
  rt: StepRuntime,
  opts: { timeoutMs: number; what: string; tailLines?: number; prelude?: string },
): Promise<GuestRunResult> {
  // The prelude (shell assignments) travels with the script on SSH's stdin: for secrets, which
  // must not be in an argv that `ps` shows on the host or in the guest.
  const file = await readFile(join(GUEST_DIR, 'build', script));
  const body = opts.prelude ? Buffer.concat([Buffer.from(`${opts.prelude}\n`), file]) : file;
  try {
    const r = await sshScript(target, body, args, { sudo: true, signal: rt.signal, logFile: rt.logFile, timeoutMs: opts.timeoutMs });
    return { stdout: r.stdout, results: parseResults(r.stdout) };
  } catch (e) {
    if (e instanceof CommandError) {
      const log = await readFile(rt.logFile, 'utf8').catch(() => '');
      const n = opts.tailLines ?? 50;
      throw new GuestError(`${opts.what} failed in the VM (${script} exited with code ${e.exitCode})\n--- last ${n} lines of ${rt.logFile} ---\n${lastLines(log, n)}`, {
        cause: e,
        hint: `see ${rt.logFile}`,
      });
    }
    throw e;
  }
}
