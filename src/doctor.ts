// doctor: which host tools are present (and from which Debian package), and which accelerator
// really works. Also used by build/validate as their environment check.
import { checkHostTools, missingPackages, type ToolStatus } from './tools/host-tools.js';
import { probeAcceleratorsCached, type CachedProbe } from './tools/accel-cache.js';
import { PreconditionError } from './errors.js';

export interface DoctorReport {
  ok: boolean;
  tools: ToolStatus[];
  missingPackages: string[];
  installCommand?: string;
  accelerator?: CachedProbe;
  ms: number;
}

export async function doctor(opts: { cacheDir: string; refresh?: boolean; signal?: AbortSignal; probe?: boolean }): Promise<DoctorReport> {
  const t0 = Date.now();
  const tools = await checkHostTools();
  const missing = missingPackages(tools);
  const qemuFound = tools.find((t) => t.name === 'qemu-system-x86_64')?.found ?? false;
  const accelerator = qemuFound && opts.probe !== false ? await probeAcceleratorsCached(opts) : undefined;
  const ok = missing.length === 0 && accelerator?.chosen !== undefined;
  return {
    ok,
    tools,
    missingPackages: missing,
    installCommand: missing.length ? `apt-get install -y ${missing.join(' ')}` : undefined,
    accelerator,
    ms: Date.now() - t0,
  };
}


/** For build/validate: fail early, with the fix, when a tool or an accelerator is missing. */
export function assertReady(report: DoctorReport, needed: readonly string[]): void {
  const missing = report.tools.filter((t) => !t.found && needed.includes(t.name));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => t.debPackage))].join(' ');
    throw new PreconditionError(`missing host tools: ${missing.map((t) => t.name).join(', ')}`, {
      hint: `install them: apt-get install -y ${pkgs} (or run \`vexfs-image doctor --install\` as root)`,
    });
  }
  if (report.accelerator && !report.accelerator.chosen) {
    throw new PreconditionError(
      `no usable accelerator: KVM: ${report.accelerator.kvm.reason}; TCG: ${report.accelerator.tcg.reason}`,
      { hint: 'check the QEMU installation with `vexfs-image doctor --refresh`' },
    );
  }
}
