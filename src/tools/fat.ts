// FAT for the EFI system partition, written into a disk image file at an offset — no loop
// device, no mount: mkfs.fat --offset (dosfstools) makes the file system, mtools' `IMAGE@@OFFSET`
// addressing puts the files in. The argument builders are pure and unit-tested.
import { run, type ExecOptions } from './exec.js';

export interface FatAt {
  image: string;
  /** Where the file system starts inside image, in 512-byte sectors. */
  offsetSectors: number;
  /** Size in KiB (mkfs.fat's block count). */
  sizeKiB: number;
  label: string;
  /** 8 hex digits (FAT's serial number; in fstab it reads XXXX-XXXX). */
  volumeId: string;
}

/** FAT32 with 512-byte clusters: a 64 MiB ESP then has the 65525 clusters FAT32 needs. */
export function mkfsFatArgs(f: FatAt): string[] {
  return ['-F', '32', '-s', '1', '-n', f.label, '-i', f.volumeId, `--offset=${f.offsetSectors}`, f.image, String(f.sizeKiB)];
}

/** mtools' name for the file system inside the image. */
export function mtoolsImage(f: Pick<FatAt, 'image' | 'offsetSectors'>): string {
  return `${f.image}@@${f.offsetSectors * 512}`;
}

// mtools refuses a geometry it does not like on images that no BIOS ever saw; skip that check.
const MTOOLS_ENV = { MTOOLS_SKIP_CHECK: '1' };

/** Makes the file system and copies files into it: [source on the host, path inside like EFI/BOOT/BOOTX64.EFI]. */
export async function makeFatWithFiles(f: FatAt, files: ReadonlyArray<[string, string]>, opts: ExecOptions = {}): Promise<void> {
  await run('mkfs.fat', mkfsFatArgs(f), { timeoutMs: 60_000, ...opts });
  const img = mtoolsImage(f);
  const dirs = new Set<string>();
  for (const [, inside] of files) {
    const parts = inside.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const env = { ...opts.env, ...MTOOLS_ENV };
  if (dirs.size) await run('mmd', ['-i', img, ...[...dirs].sort().map((d) => `::/${d}`)], { timeoutMs: 60_000, ...opts, env });
  for (const [src, inside] of files) await run('mcopy', ['-i', img, src, `::/${inside}`], { timeoutMs: 60_000, ...opts, env });
}
