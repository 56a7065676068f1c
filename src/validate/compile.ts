// Turns a check definition (data) into the bash script that runs in the guest and the function
// that judges its result. Pure: unit-tested without a VM (and by running the scripts locally).
// A command check's script is its command; every other type is one call of its shell function
// in guest/checks/<type>.sh (sent with each batch by guest-exec.ts, so shellcheck sees the
// logic), which prints "FAIL: why" lines and returns non-zero on failure, and one
// "OK: what was seen" line on success.
import { UsageError } from '../errors.js';
import type { CheckDef } from '../config/schema.js';
import { shellQuote } from '../tools/ssh.js';

export interface CheckVars {
  version: string;
  variant: string;
  name: string;
  /** The image's Debian architecture (amd64, arm64); absent for callers that do not know it. */
  arch?: string;
  /** /proc/sys/kernel/tainted when the checks started (for kernel-log checks). */
  taint_baseline?: string;
}

export interface GuestOutput {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export interface Verdict {
  ok: boolean;
  message: string;
}

export interface CompiledCheck {
  def: CheckDef;
  script: string;
  evaluate(out: GuestOutput): Verdict;
  /**
   * The exit code with which the check passes when that alone decides its verdict (not for
   * command checks with output expectations): then the guest can tell whether it passed, and
   * checks that need it can go in the same batch (engine.ts).
   */
  passExit?: number;
}

/**
 * Kernel taint flags by bit number (Documentation/admin-guide/tainted-kernels.rst); the guest's
 * copy, for messages, is in guest/checks/kernel-log.sh (a unit test keeps them equal).
 */
export const TAINT_LETTERS = 'PFSRMBUDAWCIOELKXTN';

export function taintMask(letters: readonly string[]): number {
  let mask = 0;
  for (const l of letters) {
    const bit = TAINT_LETTERS.indexOf(l);
    if (bit < 0) throw new UsageError(`unknown taint flag ${JSON.stringify(l)}: one of ${TAINT_LETTERS.split('').join(' ')}`);
    mask |= 1 << bit;
  }
  return mask;
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

const VAR_RE = /\{\{\s*([a-z_]+)\s*\}\}/g;

/** Replaces {{version}}, {{variant}}, {{name}}; `escape` is applied to each value (regex fields). */
export function substitute(text: string, vars: CheckVars, escape: (s: string) => string = (s) => s): string {
  return text.replace(VAR_RE, (_m, key: string) => {
    const v = (vars as unknown as Record<string, string | undefined>)[key];
    if (v === undefined) throw new UsageError(`unknown template variable {{${key}}} in ${JSON.stringify(text)}: use {{version}}, {{variant}}, {{name}} or {{arch}}`);
    return escape(v);
  });
}

function lines(s: string): string[] {
  return s
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
}

function clip(s: string, n = 200): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

/** Generic judgement for scripts that follow the FAIL:/OK: convention. */
export function judgeScript(out: GuestOutput): Verdict {
  const all = [...lines(out.stdout), ...lines(out.stderr)];
  if (out.exitCode === 0) {
    const ok = all.find((l) => l.startsWith('OK: '));
    return { ok: true, message: clip(ok ? ok.slice(4) : (all[0] ?? 'ok')) };
  }
  const fails = all.filter((l) => l.startsWith('FAIL: ')).map((l) => l.slice(6));
  const why = fails.length ? fails.join('; ') : (all.at(-1) ?? `exit code ${out.exitCode}`);
  return { ok: false, message: clip(why, 400) };
}

function compileCommand(def: Extract<CheckDef, { type: 'command' }>, vars: CheckVars): CompiledCheck {
  const script = substitute(def.command, vars);
  const e = def.expect;
  const contains = e.stdout_contains !== undefined ? substitute(e.stdout_contains, vars) : undefined;
  const matches = e.stdout_matches !== undefined ? new RegExp(substitute(e.stdout_matches, vars, escapeRegExp), 'm') : undefined;
  const notMatches = e.stdout_not_matches !== undefined ? new RegExp(substitute(e.stdout_not_matches, vars, escapeRegExp), 'm') : undefined;
  const exitDecides =
    contains === undefined && !matches && !notMatches && e.stdout_empty === undefined;
  return {
    def,
    script,
    ...(exitDecides ? { passExit: e.exit_code } : {}),
    evaluate(out) {
      const stdout = out.stdout.replace(/\r/g, '');
      const first = lines(stdout)[0] ?? '';
      const errTail = lines(out.stderr).at(-1) ?? lines(stdout).at(-1) ?? '';
      if (out.exitCode !== e.exit_code) {
        return { ok: false, message: clip(`exit code ${out.exitCode}, expected ${e.exit_code}${errTail ? `: ${errTail}` : ''}`, 400) };
      }
      if (contains !== undefined && !stdout.includes(contains)) {
        return { ok: false, message: clip(`output does not contain ${JSON.stringify(contains)}: got ${JSON.stringify(clip(stdout, 120))}`, 400) };
      }
      if (matches && !matches.test(stdout)) {
        return { ok: false, message: clip(`output does not match /${matches.source}/: got ${JSON.stringify(clip(stdout, 120))}`, 400) };
      }
      if (notMatches) {
        const hit = lines(stdout).find((l) => notMatches.test(l));
        if (hit !== undefined) return { ok: false, message: clip(`output matches /${notMatches.source}/: ${hit}`, 400) };
      }
      if (e.stdout_empty === true && stdout.trim() !== '') {
        return { ok: false, message: clip(`expected no output, got: ${lines(stdout).slice(0, 5).join(' | ')}`, 400) };
      }
      if (e.stdout_empty === false && stdout.trim() === '') return { ok: false, message: 'expected output, got none' };
      // On success show the line the expectation matched, else the first line of output.
      const shown = matches ? (lines(stdout).find((l) => matches.test(l)) ?? first) : first;
      return { ok: true, message: clip(shown || `exit code ${out.exitCode}`) };
    },
  };
}

/**
 * One call of a guest check function (guest/checks/*.sh, defined by the runner in every batch),
 * each word quoted for bash.
 */
function guestCall(fn: string, ...words: string[]): string {
  return [fn, ...words.map(shellQuote)].join(' ');
}

function compileFile(def: Extract<CheckDef, { type: 'file' }>, vars: CheckVars): string {
  const e = def.expect;
  const args = [substitute(def.path, vars)];
  if (!e.exists) return guestCall('check_file', ...args, '--absent');
  if (e.executable !== undefined) args.push(e.executable ? '--executable' : '--not-executable');
  if (e.contains !== undefined) args.push('--contains', substitute(e.contains, vars));
  return guestCall('check_file', ...args);
}

function compileService(def: Extract<CheckDef, { type: 'service' }>, vars: CheckVars): string {
  const { enabled, active } = def.expect;
  const args = [substitute(def.unit, vars)];
  if (enabled !== undefined) args.push(enabled ? '--enabled' : '--disabled');
  if (active !== undefined) args.push(active ? '--active' : '--inactive');
  return guestCall('check_service', ...args);
}

function compileKernelModule(def: Extract<CheckDef, { type: 'kernel-module' }>): string {
  // The defaults: an action implies its end state; no action and no expectation means "available".
  let loaded = def.expect.loaded;
  let available = def.expect.available;
  if (def.action === 'load') loaded ??= true;
  else if (def.action === 'unload') loaded ??= false;
  else if (loaded === undefined && available === undefined) available = true;
  const args = [def.module];
  if (def.action !== undefined) args.push(`--${def.action}`);
  if (available !== undefined) args.push(available ? '--available' : '--unavailable');
  if (loaded !== undefined) args.push(loaded ? '--loaded' : '--not-loaded');
  return guestCall('check_kernel_module', ...args);
}

function compileMount(def: Extract<CheckDef, { type: 'mount' }>, vars: CheckVars): string {
  const args = [def.fstype, substitute(def.source, vars)];
  if (def.target !== undefined) args.push('--target', substitute(def.target, vars));
  if (def.options !== undefined) args.push('--options', substitute(def.options, vars));
  return guestCall('check_mount', ...args);
}

function compileSysctl(def: Extract<CheckDef, { type: 'sysctl' }>, vars: CheckVars): string {
  const pairs = Object.entries(def.values).flatMap(([k, v]) => [k, substitute(v, vars).replace(/\s+/g, ' ').trim()]);
  return guestCall('check_sysctl', ...pairs);
}

function compileKernelLog(def: Extract<CheckDef, { type: 'kernel-log' }>, vars: CheckVars): string {
  const args = ['--allow-mask', String(taintMask(def.allow_taint))];
  if (vars.taint_baseline !== undefined && /^\d+$/.test(vars.taint_baseline)) args.push('--baseline', vars.taint_baseline);
  return guestCall('check_kernel_log', ...args, '--', ...def.forbid);
}

/** Compiles one check for one image. Throws UsageError for bad templates or regular expressions. */
export function compileCheck(def: CheckDef, vars: CheckVars): CompiledCheck {
  try {
    switch (def.type) {
      case 'command':
        return compileCommand(def, vars);
      case 'file':
        return withScript(def, compileFile(def, vars));
      case 'service':
        return withScript(def, compileService(def, vars));
      case 'kernel-module':
        return withScript(def, compileKernelModule(def));
      case 'mount':
        return withScript(def, compileMount(def, vars));
      case 'sysctl':
        return withScript(def, compileSysctl(def, vars));
      case 'kernel-log':
        return withScript(def, compileKernelLog(def, vars));
    }
  } catch (e) {
    if (e instanceof UsageError) throw new UsageError(`check ${def.id}: ${e.message}`, { hint: e.hint });
    if (e instanceof SyntaxError) throw new UsageError(`check ${def.id}: bad regular expression: ${e.message}`);
    throw e;
  }
}

function withScript(def: CheckDef, script: string): CompiledCheck {
  return { def, script, evaluate: judgeScript, passExit: 0 };
}
