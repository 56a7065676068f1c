// Every check compiled once before anything boots, with stand-in values for the image's
// variables: a bad regular expression or an unknown {{variable}} is bad input (exit 2) found
// now, not after a VM has booted (compileCheck throws UsageError naming the check).
import type { CheckDef } from '../config/schema.js';
import { compileCheck } from './compile.js';

export function precompileChecks(checks: readonly CheckDef[], vars: { version?: string; variant?: string } = {}): void {
  for (const c of checks) compileCheck(c, { version: vars.version ?? '0.0.0', variant: vars.variant ?? 'minimal', name: 'vexfs-image', arch: 'amd64', taint_baseline: '0' });
}
