// The accelerator probe's result, cached per host kernel and QEMU version: probing costs ~10 s
// when KVM hangs, and the answer only changes when one of those does.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname, release } from 'node:os';
import { join } from 'node:path';
import { probeAccelerators, type ProbeReport } from './accel.js';
import { run } from './exec.js';

export interface CachedProbe extends ProbeReport {
  key: string;
  probedAt: string;
  cached: boolean;
}

export async function probeKey(qemu = 'qemu-system-x86_64'): Promise<string> {
  const r = await run(qemu, ['--version'], { timeoutMs: 10_000 });
  const qemuVersion = r.stdout.split('\n')[0]?.trim() ?? 'unknown';
  return `${hostname()}|${release()}|${qemuVersion}`;
}

export async function probeAcceleratorsCached(opts: { cacheDir: string; refresh?: boolean; signal?: AbortSignal }): Promise<CachedProbe> {
  const key = await probeKey();
  const file = join(opts.cacheDir, 'accel-probe.json');
  if (!opts.refresh) {
    try {
      const c = JSON.parse(await readFile(file, 'utf8')) as CachedProbe;
      if (c.key === key && c.kvm && c.tcg) return { ...c, cached: true };
    } catch {
      /* no cache yet, or unreadable: probe */
    }
  }
  const report = await probeAccelerators({ signal: opts.signal });
  const entry: CachedProbe = { ...report, key, probedAt: new Date().toISOString(), cached: false };
  await mkdir(opts.cacheDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(entry, null, 2));
  await rename(tmp, file);
  return entry;
}
