// Accelerator probe. /dev/kvm existing is not enough: in nested setups a KVM guest can run
// (slowly) and a Linux kernel then hangs. So we really run a tiny guest under each accelerator
// (a boot sector this module writes: it prints a marker on COM1 and exits through
// isa-debug-exit) with a hard deadline, and judge KVM by its speed against TCG as well.
import { constants } from 'node:fs';
import { access, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { makeOwnedTempDir, removeOrphans } from './owned-dir.js';
import { CommandError } from '../errors.js';
import type { Accel } from './qemu.js';

export const PROBE_MARKER = 'VEXFS-ACCEL-OK';
/** isa-debug-exit turns the byte written (0x10) into exit status (0x10 << 1) | 1. */
export const PROBE_EXIT_CODE = 33;

/** A 512-byte real-mode boot sector: print PROBE_MARKER on 0x3f8, write 0x10 to port 0xf4, halt. */
export function probeBootSector(): Buffer {
  const code = [
    0xfa, // cli
    0xfc, // cld
    0x31, 0xc0, // xor ax, ax
    0x8e, 0xd8, // mov ds, ax
    0xbe, 0x1e, 0x7c, // mov si, 0x7c1e (message)
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xac, // next: lodsb
    0x84, 0xc0, // test al, al
    0x74, 0x03, // jz done
    0xee, // out dx, al
    0xeb, 0xf8, // jmp next
    0xb0, 0x10, // done: mov al, 0x10
    0xe6, 0xf4, // out 0xf4, al
    0xf4, // halt: hlt
    0xeb, 0xfd, // jmp halt
    0x90, 0x90, 0x90, // pad to offset 0x1e
  ];
  const sector = Buffer.alloc(512);
  Buffer.from(code).copy(sector, 0);
  Buffer.from(`${PROBE_MARKER}\r\n\0`, 'latin1').copy(sector, 0x1e);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

export function probeArgs(accel: Accel, bootSector: string): string[] {
  return [
    '-machine', `pc,accel=${accel}`,
    '-nodefaults', '-display', 'none', '-m', '16',
    '-drive', `file=${bootSector},format=raw,if=floppy,readonly=on`,
    '-serial', 'stdio',
    '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04',
    '-no-reboot',
  ];
}

export interface AccelResult {
  accel: Accel;
  usable: boolean;
  /** Wall time of the probe guest, in ms (undefined when it did not complete). */
  ms?: number;
  reason: string;
}

export interface ProbeReport {
  kvm: AccelResult;
  tcg: AccelResult;
  /** What builds will use. */
  chosen: Accel | undefined;
}

async function runProbe(accel: Accel, sectorPath: string, timeoutMs: number, qemu: string, signal?: AbortSignal): Promise<AccelResult> {
  const started = Date.now();
  try {
    const r = await run(qemu, probeArgs(accel, sectorPath), { timeoutMs, allowFailure: true, signal, killGraceMs: 1000 });
    const ms = Date.now() - started;
    if (r.exitCode === PROBE_EXIT_CODE && r.stdout.includes(PROBE_MARKER)) {
      return { accel, usable: true, ms, reason: `probe guest finished in ${ms} ms` };
    }
    const err = (r.stderr.trim().split('\n').pop() ?? '').slice(0, 200);
    return { accel, usable: false, ms, reason: `probe guest failed (exit ${r.exitCode}${err ? `: ${err}` : ''})` };
  } catch (e) {
    if (e instanceof Error && e.name === 'TimeoutError') {
      return { accel, usable: false, reason: `probe guest did not finish within ${timeoutMs / 1000} s (guest hangs)` };
    }
    if (e instanceof Error && e.name === 'AbortedError') throw e;
    // A CommandError here means QEMU could not be started: its stderr tail says why.
    const why = e instanceof CommandError ? e.stderrTail.trim() : e instanceof Error ? e.message.split('\n')[0]! : String(e);
    return { accel, usable: false, reason: why };
  }
}

/**
 * KVM counts as usable only when the probe completes and is not much slower than TCG: in
 * nested setups every VM exit is very slow, and a full kernel then stalls (ENVIRONMENT.md).
 */
export function judgeKvm(kvm: AccelResult, tcg: AccelResult): AccelResult {
  if (!kvm.usable || kvm.ms === undefined) return kvm;
  if (tcg.usable && tcg.ms !== undefined && kvm.ms > 2 * tcg.ms + 1500) {
    return {
      ...kvm,
      usable: false,
      reason: `KVM guest ran but ${kvm.ms} ms against ${tcg.ms} ms under TCG: VM exits are too slow (nested virtualisation); a kernel would stall`,
    };
  }
  return kvm;
}

const PROBE_DIR_PREFIX = 'vexfs-accel-';

export async function probeAccelerators(opts: { qemu?: string; signal?: AbortSignal; kvmDevice?: string; timeoutMs?: number } = {}): Promise<ProbeReport> {
  const qemu = opts.qemu ?? 'qemu-system-x86_64';
  // Owned: a probe killed mid-way leaves its directory for the next probe to remove.
  await removeOrphans(tmpdir(), (n) => n.startsWith(PROBE_DIR_PREFIX));
  const dir = await makeOwnedTempDir(tmpdir(), PROBE_DIR_PREFIX);
  try {
    const sector = join(dir, 'probe.img');
    await writeFile(sector, probeBootSector());
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const tcg = await runProbe('tcg', sector, timeoutMs, qemu, opts.signal);
    let kvm: AccelResult;
    const dev = opts.kvmDevice ?? '/dev/kvm';
    try {
      await access(dev, constants.R_OK | constants.W_OK);
      kvm = judgeKvm(await runProbe('kvm', sector, timeoutMs, qemu, opts.signal), tcg);
    } catch (e) {
      if (e instanceof Error && e.name === 'AbortedError') throw e;
      kvm = { accel: 'kvm', usable: false, reason: `${dev} is missing or not accessible` };
    }
    const chosen: Accel | undefined = kvm.usable ? 'kvm' : tcg.usable ? 'tcg' : undefined;
    return { kvm, tcg, chosen };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
