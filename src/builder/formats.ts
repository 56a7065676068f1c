// The image in the formats clouds import, made from the finished qcow2 in finalise's partial
// directory: raw; a fixed VHD (Azure: virtual size a whole number of MiB); a streamOptimized
// VMDK (vSphere, AWS import); GCE's disk.raw in a GNU-format .tar.gz (GCE: a whole number of
// GiB). qcow2 is always made (validate, run and ci boot it); the rest only when asked for.
import { link, mkdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError, VexfsImageError } from '../errors.js';
import { run, type ExecOptions } from '../tools/exec.js';
import { sha256FileOffThread, sha256sumLine } from '../tools/hash.js';
import { which } from '../tools/host-tools.js';
import { checkImage, convertImage, imageInfo } from '../tools/qemu-img.js';

export const IMAGE_FORMATS = ['qcow2', 'raw', 'vhd', 'vmdk', 'gce'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

const MIB = 2 ** 20;
const GIB = 2 ** 30;

/** File name of each format, next to NAME.qcow2. */
export function formatFileName(imageName: string, format: ImageFormat): string {
  return format === 'gce' ? `${imageName}.gce.tar.gz` : `${imageName}.${format}`;
}

/** --format values (comma-separated, repeatable): qcow2 first and always, each once, in IMAGE_FORMATS order. */
export function parseImageFormats(values: readonly string[] | undefined, what = '--format'): ImageFormat[] {
  const asked = new Set<ImageFormat>(['qcow2']);
  for (const v of values ?? []) {
    for (const raw of v.split(',')) {
      const f = raw.trim().toLowerCase();
      if (!f) continue;
      if (!(IMAGE_FORMATS as readonly string[]).includes(f)) throw new UsageError(`${what}: unknown image format ${JSON.stringify(raw.trim())}: give any of ${IMAGE_FORMATS.join(', ')}`);
      asked.add(f as ImageFormat);
    }
  }
  return IMAGE_FORMATS.filter((f) => asked.has(f));
}

export const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

export interface FormatFile {
  format: ImageFormat;
  /** File name (in the same directory as the qcow2). */
  name: string;
  path: string;
  size: number;
  /** The disk's size as the importing cloud will see it. */
  virtualSize: number;
  /** How it was checked: `qemu-img check`, `qemu-img info`, tar's listing. */
  checked: string;
  ms: number;
}

/**
 * The tar a GCE import takes: disk.raw only, GNU format, sparse, gzip. pigz (same gzip format,
 * every core) when the host has it: gzip is most of this format's time.
 */
export function gceTarArgs(dst: string, dir: string, pigz = false): string[] {
  return ['--format=gnu', '-S', ...(pigz ? ['--use-compress-program=pigz', '-cf'] : ['-czf']), dst, '-C', dir, 'disk.raw'];
}

async function rawOf(qcow2: string, dst: string, sizeBytes: number, opts: ExecOptions): Promise<void> {
  await convertImage(qcow2, dst, { sourceFormat: 'qcow2', outputFormat: 'raw' }, opts);
  if ((await stat(dst)).size < sizeBytes) await truncate(dst, sizeBytes); // sparse: zeros past the old end
}

/** Opened as the format it should be (-f: a fixed VHD would probe as raw). */
async function assertInfo(path: string, format: string, virtualSize: number, opts: ExecOptions): Promise<void> {
  const info = await imageInfo(path, opts, format);
  if (info.format !== format || info.virtualSize !== virtualSize) {
    throw new VexfsImageError('E_FORMAT', `${path}: qemu-img reads it as ${info.format} of ${info.virtualSize} bytes, expected ${format} of ${virtualSize}`);
  }
}

/**
 * Writes one format into dir from the finished qcow2 (virtual size virtualSize). raw, when it
 * was made first, is reused for gce (a hard link, no second conversion).
 */
export async function writeFormat(
  format: Exclude<ImageFormat, 'qcow2'>,
  o: { qcow2: string; dir: string; imageName: string; virtualSize: number; raw?: string; /** default: when the host has it */ pigz?: boolean },
  opts: ExecOptions = {},
): Promise<FormatFile> {
  const t0 = Date.now();
  const name = formatFileName(o.imageName, format);
  const path = join(o.dir, name);
  let virtualSize = o.virtualSize;
  let checked: string;
  switch (format) {
    case 'raw':
      await rawOf(o.qcow2, path, virtualSize, opts);
      await assertInfo(path, 'raw', virtualSize, opts);
      checked = 'qemu-img info';
      break;
    case 'vhd': {
      // Azure takes fixed VHDs only, and only of a whole number of MiB; force_size keeps the size
      // exact instead of QEMU's CHS rounding.
      virtualSize = roundUp(o.virtualSize, MIB);
      let src = o.qcow2;
      let srcFormat: 'qcow2' | 'raw' = 'qcow2';
      if (virtualSize !== o.virtualSize) {
        src = join(o.dir, `.${o.imageName}.vhd-src.raw`);
        srcFormat = 'raw';
        await rawOf(o.qcow2, src, virtualSize, opts);
      }
      try {
        await convertImage(src, path, { sourceFormat: srcFormat, outputFormat: 'vpc', options: ['subformat=fixed', 'force_size=on'] }, opts);
      } finally {
        if (src !== o.qcow2) await rm(src, { force: true });
      }
      await assertInfo(path, 'vpc', virtualSize, opts);
      // A fixed VHD is the disk's bytes and a 512-byte footer.
      if ((await stat(path)).size !== virtualSize + 512) throw new VexfsImageError('E_FORMAT', `${path} is not a fixed VHD of ${virtualSize} bytes`);
      checked = 'qemu-img info (vpc, fixed)';
      break;
    }
    case 'vmdk':
      await convertImage(o.qcow2, path, { sourceFormat: 'qcow2', outputFormat: 'vmdk', options: ['subformat=streamOptimized'] }, opts);
      await checkImage(path, 'vmdk', opts);
      await assertInfo(path, 'vmdk', virtualSize, opts);
      checked = 'qemu-img check + info';
      break;
    case 'gce': {
      // GCE imports a disk.raw of a whole number of GiB, in a GNU tar, gzip-compressed.
      virtualSize = roundUp(o.virtualSize, GIB);
      const tmp = join(o.dir, `.${o.imageName}.gce`);
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp);
      try {
        const disk = join(tmp, 'disk.raw');
        if (o.raw && virtualSize === o.virtualSize) await link(o.raw, disk);
        else await rawOf(o.qcow2, disk, virtualSize, opts);
        await run('tar', gceTarArgs(path, tmp, o.pigz ?? Boolean(which('pigz'))), { timeoutMs: 1_800_000, ...opts });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      const list = await run('tar', ['--list', '--verbose', '-zf', path], { timeoutMs: 600_000, ...opts });
      const lines = list.stdout.trim().split('\n');
      if (lines.length !== 1 || !/\sdisk\.raw$/.test(lines[0]!)) throw new VexfsImageError('E_FORMAT', `${path} must hold disk.raw alone, it lists: ${lines.join('; ')}`);
      checked = 'tar --list (disk.raw alone)';
      break;
    }
  }
  return { format, name, path, size: (await stat(path)).size, virtualSize, checked, ms: Date.now() - t0 };
}

export interface WrittenFormat extends FormatFile {
  sha256: string;
  /** How long its hash took (it overlaps the next format's conversion); `ms` is the conversion's. */
  hashMs: number;
}

/**
 * Every asked-for format but qcow2 into dir, each with its NAME.sha256 beside it. Each file is
 * hashed on a worker thread while the next one is converted (a 10 GiB raw or VHD takes ~30 s to
 * hash, mostly its zeros): on two cores, finalise's extra time is about the largest of the two
 * queues rather than their sum. Results in the order asked.
 */
export async function writeFormats(
  formats: readonly ImageFormat[],
  o: { qcow2: string; dir: string; imageName: string; virtualSize: number; pigz?: boolean; onWritten?: (f: WrittenFormat) => void },
  opts: ExecOptions = {},
): Promise<WrittenFormat[]> {
  const pending: Array<Promise<WrittenFormat>> = [];
  let raw: string | undefined;
  let convertError: unknown;
  try {
    for (const format of formats) {
      if (format === 'qcow2') continue;
      const f = await writeFormat(format, { qcow2: o.qcow2, dir: o.dir, imageName: o.imageName, virtualSize: o.virtualSize, ...(raw ? { raw } : {}), ...(o.pigz !== undefined ? { pigz: o.pigz } : {}) }, opts);
      if (format === 'raw') raw = f.path;
      const t = Date.now();
      pending.push(
        sha256FileOffThread(f.path, opts.signal).then(async (sha256) => {
          await writeFile(`${f.path}.sha256`, sha256sumLine(sha256, f.name));
          const w = { ...f, sha256, hashMs: Date.now() - t };
          o.onWritten?.(w);
          return w;
        }),
      );
    }
  } catch (e) {
    convertError = e;
  }
  // Every hash settles before this returns or throws: none may outlive the step, whose cleanup
  // removes the directory. A conversion's error wins over a hash's.
  const settled = await Promise.allSettled(pending);
  if (convertError !== undefined) throw convertError;
  return settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
}
