// The quick test's guest reports on the serial console (guest/quick/init.sh); this turns the
// console into check results of the validation report model (src/report/model.ts), so the same
// JSON and JUnit writers serve it.
import { stripControl, type CheckResult } from '../report/model.js';

/** Kernel trouble printed on the console outside the guest's own lines. */
const KERNEL_TROUBLE = /Oops|BUG:|kernel BUG|WARNING:|Call Trace|Kernel panic/;

export interface ParsedConsole {
  checks: CheckResult[];
  /** The QUICK-RESULT line was seen (the guest ran to the end). */
  finished: boolean;
  kernelRelease?: string;
}

export function parseConsole(serialText: string): ParsedConsole {
  const lines = stripControl(serialText).split('\n');
  const checks: CheckResult[] = [];
  let finished = false;
  let kernelRelease: string | undefined;
  const trouble: string[] = [];
  for (const line of lines) {
    const c = /^QUICK-CHECK (passed|failed|skipped) (\S+) (\S+) (.*)$/.exec(line);
    if (c) {
      const [, status, id, group, text] = c as unknown as [string, CheckResult['status'], string, string, string];
      checks.push({ id: id!, group: group!, description: text!.replace(/: (exit \d+|it succeeded|tainted=.*)$/, ''), type: 'quick', severity: 'error', status, message: text!, durationMs: 0, attempts: 1 });
      continue;
    }
    const o = /^QUICK-OUT \| ?(.*)$/.exec(line);
    if (o && checks.length) {
      const last = checks[checks.length - 1]!;
      last.output = last.output ? `${last.output}\n${o[1]}` : o[1];
      continue;
    }
    const r = /^QUICK-RESULT (PASS|FAIL) \d+ \d+ (\S+)$/.exec(line);
    if (r) {
      finished = true;
      kernelRelease = r[2];
      continue;
    }
    if (!line.startsWith('QUICK-') && KERNEL_TROUBLE.test(line)) trouble.push(line.trim());
  }
  checks.push({
    id: 'console-clean',
    group: 'kernel',
    description: 'the serial console shows no oops, bug, warning or panic',
    type: 'quick',
    severity: 'error',
    status: trouble.length ? 'failed' : 'passed',
    message: trouble.length ? trouble[0]! : 'clean',
    durationMs: 0,
    attempts: 1,
    ...(trouble.length ? { output: trouble.slice(0, 20).join('\n') } : {}),
  });
  return { checks, finished, ...(kernelRelease ? { kernelRelease } : {}) };
}
