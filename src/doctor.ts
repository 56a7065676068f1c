// doctor: which host tools are present (and from which Debian package), and which accelerator
// really works. Also used by build/validate as their environment check.
import { checkHostTools, HOST_TOOLS, missingPackages, type ToolStatus } from './tools/host-tools.js';
import { probeAcceleratorsCached, type CachedProbe } from './tools/accel-cache.js';
import { PreconditionError } from './errors.js';
import type { Arch } from './arch.js';
import { archHostStatus, type ArchHostStatus } from './tools/arch-host.js';
import { probeArch, type ArchProbe } from './tools/arch-probe.js';

/** What one guest architecture needs on this host, and whether its probe guest ran. */
export interface ArchReport extends ArchHostStatus {
  /** Every requirement found. */
  installed: boolean;
  /** Its probe guest (amd64: the accelerator probe above); absent when not installed. */
  probe?: ArchProbe;
  /** apt-get line for what is missing. */
  installCommand?: string;
  /** Installed and its probe guest ran. */
  ok: boolean;
}

/** Each architecture's host packages, and its probe guest under a deadline when they are there. */
export async function archReports(arches: readonly Arch[], accelerator: CachedProbe | undefined, signal?: AbortSignal): Promise<ArchReport[]> {
  const out: ArchReport[] = [];
  for (const arch of arches) {
    const st = archHostStatus(arch);
    const missing = [...new Set(st.items.filter((i) => !i.found).map((i) => i.pkg))];
    const installed = missing.length === 0;
    let probe: ArchProbe | undefined;
    if (installed && arch === 'amd64') {
      const chosen = accelerator?.chosen;
      probe = chosen ? { arch, usable: true, ...(accelerator[chosen].ms !== undefined ? { ms: accelerator[chosen].ms } : {}), reason: `accelerator probe: ${chosen}` } : { arch, usable: false, reason: 'no usable accelerator' };
    } else if (installed) probe = await probeArch(arch, { signal });
    out.push({ ...st, installed, ...(probe ? { probe } : {}), ...(missing.length ? { installCommand: `apt-get install -y ${missing.join(' ')}` } : {}), ok: installed && Boolean(probe?.usable) });
  }
  return out;
}

export interface DoctorReport {
  ok: boolean;
  tools: ToolStatus[];
  missingPackages: string[];
  installCommand?: string;
  accelerator?: CachedProbe;
  /** Per guest architecture (doctor's own report; build and validate do not ask). */
  architectures?: ArchReport[];
  ms: number;
}

export interface DoctorOptions {
  cacheDir: string;
  refresh?: boolean;
  signal?: AbortSignal;
  probe?: boolean;
  arches?: readonly Arch[];
  /** Look up only these host tools (a job that records no tool versions); default every one. */
  only?: readonly string[];
}

export async function doctor(opts: DoctorOptions): Promise<DoctorReport> {
  const t0 = Date.now();
  const tools = await checkHostTools(opts.only ? HOST_TOOLS.filter((t) => opts.only!.includes(t.name)) : HOST_TOOLS);
  const missing = missingPackages(tools);
  const qemuFound = tools.find((t) => t.name === 'qemu-system-x86_64')?.found ?? false;
  const accelerator = qemuFound && opts.probe !== false ? await probeAcceleratorsCached(opts) : undefined;
  const ok = missing.length === 0 && accelerator?.chosen !== undefined;
  const architectures = opts.arches?.length ? await archReports(opts.arches, accelerator, opts.signal) : undefined;
  return {
    ok,
    tools,
    missingPackages: missing,
    installCommand: missing.length ? `apt-get install -y ${missing.join(' ')}` : undefined,
    accelerator,
    ...(architectures ? { architectures } : {}),
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
