// mmdebstrap: a Debian root file system from packages, into a directory. The argument builder
// is pure and unit-tested; running it needs root (mmdebstrap's "root" mode: bind mounts in the
// chroot, no loop devices).
import { run, type ExecOptions } from './exec.js';
import { checkPackageNames } from '../config/package-names.js';
import { UsageError } from '../errors.js';

export interface MmdebstrapSpec {
  suite: string;
  /** mmdebstrap variant: minbase = Essential + Priority:required + apt. */
  variant: 'minbase' | 'apt' | 'important' | 'standard';
  /** Packages on top of the variant (--include). */
  packages: readonly string[];
  /** One-line sources.list entries ("deb URI SUITE COMPONENTS"). */
  sources: readonly string[];
  target: string;
  /** --dpkgopt values: an option line or a file whose lines are copied into the chroot. */
  dpkgOpts?: readonly string[];
  /** Executable scripts run as setup hooks (before any package is installed), root directory as $1. */
  setupHooks?: readonly string[];
  /** Executable scripts run as customize hooks with the root directory as $1. */
  customizeHooks?: readonly string[];
  architecture?: string;
}

export function mmdebstrapArgs(spec: MmdebstrapSpec): string[] {
  // Defence in depth (the config schema refuses these first): mmdebstrap hands --include to apt
  // as root, so a "-o..." entry would become apt configuration, and a ',' would split one entry
  // into several. The suite and target are positional: one starting with '-' would be an option.
  checkPackageNames(spec.packages, 'the packages for mmdebstrap --include');
  for (const [what, v] of [['suite', spec.suite], ['target', spec.target]] as const) {
    if (!v || v.startsWith('-')) throw new UsageError(`invalid mmdebstrap ${what} ${JSON.stringify(v)}: it must not be empty or start with '-'.`);
  }
  const arch = spec.architecture ?? 'amd64';
  const a = ['--mode=root', `--variant=${spec.variant}`, `--architectures=${arch}`];
  // No qemu-user check by mmdebstrap (it would need arch-test): the host is amd64, and for a
  // foreign architecture tools/binfmt.ts has checked that binfmt_misc runs it through qemu-user.
  a.push('--skip=check/qemu');
  if (spec.packages.length) a.push(`--include=${[...spec.packages].sort().join(',')}`);
  for (const o of spec.dpkgOpts ?? []) a.push(`--dpkgopt=${o}`);
  for (const h of spec.setupHooks ?? []) a.push(`--setup-hook=${h}`);
  for (const h of spec.customizeHooks ?? []) a.push(`--customize-hook=${h}`);
  a.push(spec.suite, spec.target, ...spec.sources);
  return a;
}

/** `mmdebstrap --version` → "1.3.5" (part of the recipe key of built bases). */
export async function mmdebstrapVersion(opts: ExecOptions = {}): Promise<string> {
  const r = await run('mmdebstrap', ['--version'], { timeoutMs: 30_000, ...opts });
  return r.stdout.trim().replace(/^mmdebstrap\s+/, '');
}

export async function runMmdebstrap(spec: MmdebstrapSpec, opts: ExecOptions = {}): Promise<void> {
  await run('mmdebstrap', mmdebstrapArgs(spec), { timeoutMs: 1_800_000, ...opts });
}
