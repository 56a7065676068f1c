// qemu-img: disk image inspection, overlays, resizing and compaction. Shared by base images,
// the builder and the validator. Argument builders are pure and unit-tested.
import { run, type ExecOptions } from './exec.js';
import { UsageError } from '../errors.js';

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string;
}

export async function imageInfo(path: string, opts: ExecOptions = {}): Promise<ImageInfo> {
  const r = await run('qemu-img', ['info', '--output=json', '-U', path], { timeoutMs: 30_000, ...opts, allowFailure: true });
  if (r.exitCode !== 0) {
    throw new UsageError(`${path} is not a disk image qemu-img can read: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  const j = JSON.parse(r.stdout) as { format: string; 'virtual-size': number; 'actual-size': number; 'backing-filename'?: string };
  return { format: j.format, virtualSize: j['virtual-size'], actualSize: j['actual-size'], backingFile: j['backing-filename'] };
}

export function overlayArgs(backing: string, backingFormat: string, overlay: string, sizeBytes?: number): string[] {
  const args = ['create', '-q', '-f', 'qcow2', '-F', backingFormat, '-b', backing, overlay];
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  return args;
}

/**
 * A qcow2 overlay on top of `backing`: writes go to the overlay, the backing file is only ever
 * opened read-only by QEMU. With sizeBytes the overlay's virtual size is grown (never shrunk).
 */
export async function createOverlay(backing: string, overlay: string, opts: { sizeBytes?: number; backingFormat?: string } & ExecOptions = {}): Promise<void> {
  const info = await imageInfo(backing, opts);
  const size = opts.sizeBytes !== undefined && opts.sizeBytes > info.virtualSize ? opts.sizeBytes : undefined;
  await run('qemu-img', overlayArgs(backing, opts.backingFormat ?? info.format, overlay, size), { timeoutMs: 60_000, ...opts });
}

export interface ConvertOptions {
  compress?: boolean;
  /** qcow2 compression: zlib (default, readable everywhere) or zstd (QEMU >= 5.1, ~5x faster). */
  compressionType?: 'zlib' | 'zstd';
  /** Input format; probing is skipped when given (always give it for raw files). */
  sourceFormat?: 'raw' | 'qcow2';
}

export function convertArgs(src: string, dst: string, opts: ConvertOptions = {}): string[] {
  // Converting flattens the backing chain and drops unallocated and zeroed clusters.
  const o = ['compat=1.1', 'lazy_refcounts=off'];
  if (opts.compress && opts.compressionType) o.push(`compression_type=${opts.compressionType}`);
  const args = ['convert'];
  if (opts.sourceFormat) args.push('-f', opts.sourceFormat);
  args.push('-O', 'qcow2', '-o', o.join(','));
  if (opts.compress) args.push('-c');
  args.push(src, dst);
  return args;
}

export async function convertToQcow2(src: string, dst: string, opts: ConvertOptions & ExecOptions = {}): Promise<void> {
  await run('qemu-img', convertArgs(src, dst, opts), { timeoutMs: 1_800_000, ...opts });
}
