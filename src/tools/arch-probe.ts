// The probe guest of a foreign architecture (doctor): does this host's emulator really run it,
// and how fast? arm64: 44 bytes of AArch64 code given to `-M virt` as its flash (-bios), so it
// runs from the first instruction without firmware: it writes PROBE_MARKER to the PL011 UART and
// powers the machine off through PSCI SYSTEM_OFF (QEMU then exits 0). Always under a deadline.
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archSpec, type Arch } from '../arch.js';
import { CommandError } from '../errors.js';
import { run } from './exec.js';
import { makeOwnedTempDir, removeOrphans } from './owned-dir.js';

export const ARCH_PROBE_MARKER = 'OK';

/** The virt machine's PL011 UART (its MMIO base). */
const VIRT_UART = 0x0900_0000;

const movzW = (rd: number, imm16: number, shift16 = false): number => (shift16 ? 0x72a0_0000 : 0x5280_0000) | (imm16 << 5) | rd; // movz / movk (lsl 16)
const movzXHigh = (rd: number, imm16: number): number => 0xd2a0_0000 | (imm16 << 5) | rd; // movz xd, #imm, lsl #16
const strW = (rt: number, rn: number): number => 0xb900_0000 | (rn << 5) | rt; // str wt, [xn]

/** AArch64 machine code: print "OK\n" on the UART, PSCI SYSTEM_OFF (0x84000008) by HVC, spin. */
export function arm64ProbeCode(): Buffer {
  const words = [
    movzXHigh(1, VIRT_UART >>> 16),
    ...[...`${ARCH_PROBE_MARKER}\n`].flatMap((c) => [movzW(0, c.charCodeAt(0)), strW(0, 1)]),
    movzW(0, 0x0008),
    movzW(0, 0x8400, true),
    0xd400_0002, // hvc #0
    0x1400_0000, // b .
  ];
  const b = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
  return b;
}

export function arm64ProbeArgs(blob: string, cpu: string): string[] {
  return ['-machine', 'virt', '-cpu', cpu, '-accel', 'tcg', '-nodefaults', '-display', 'none', '-m', '64', '-bios', blob, '-serial', 'stdio', '-no-reboot'];
}

export interface ArchProbe {
  arch: Arch;
  usable: boolean;
  ms?: number;
  reason: string;
}

/** Runs the architecture's probe guest (amd64 has the accelerator probe: tools/accel.ts). */
export async function probeArch(arch: Arch, opts: { timeoutMs?: number; signal?: AbortSignal; qemu?: string } = {}): Promise<ArchProbe> {
  if (arch !== 'arm64') return { arch, usable: true, reason: 'probed by the accelerator probe' };
  const spec = archSpec(arch);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  await removeOrphans(tmpdir(), (n) => n.startsWith('vexfs-arch-probe-'));
  const dir = await makeOwnedTempDir(tmpdir(), 'vexfs-arch-probe-');
  const started = Date.now();
  try {
    const blob = join(dir, 'probe.bin');
    await writeFile(blob, arm64ProbeCode());
    const r = await run(opts.qemu ?? spec.qemuBinary, arm64ProbeArgs(blob, spec.tcgCpu), { timeoutMs, allowFailure: true, signal: opts.signal, killGraceMs: 1000 });
    const ms = Date.now() - started;
    if (r.exitCode === 0 && r.stdout.includes(ARCH_PROBE_MARKER)) return { arch, usable: true, ms, reason: `probe guest finished in ${ms} ms (TCG, ${spec.machine}, ${spec.tcgCpu})` };
    const err = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 200);
    return { arch, usable: false, ms, reason: `probe guest failed (exit ${r.exitCode}${err ? `: ${err}` : ''})` };
  } catch (e) {
    if (e instanceof Error && e.name === 'TimeoutError') return { arch, usable: false, reason: `probe guest did not finish within ${timeoutMs / 1000} s` };
    if (e instanceof Error && e.name === 'AbortedError') throw e;
    const why = e instanceof CommandError ? e.stderrTail.trim() : e instanceof Error ? e.message.split('\n')[0]! : String(e);
    return { arch, usable: false, reason: why };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
