// qemu-img: disk image inspection, overlays, resizing and compaction. Shared by base images,
// the builder and the validator. Argument builders are pure and unit-tested.
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { run, type ExecOptions } from './exec.js';
import { UsageError } from '../errors.js';

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string;
}

/** With format, the file is opened as that format and never probed (a fixed VHD probes as raw). */
export async function imageInfo(path: string, opts: ExecOptions = {}, format?: string): Promise<ImageInfo> {
  const r = await run('qemu-img', ['info', '--output=json', '-U', ...(format ? ['-f', format] : []), path], { timeoutMs: 30_000, ...opts, allowFailure: true });
  if (r.exitCode !== 0) {
    throw new UsageError(`${path} is not a disk image qemu-img can read: ${r.stderr.trim().split('\n').pop() ?? ''}`);
  }
  const j = JSON.parse(r.stdout) as { format: string; 'virtual-size': number; 'actual-size': number; 'backing-filename'?: string };
  return { format: j.format, virtualSize: j['virtual-size'], actualSize: j['actual-size'], backingFile: j['backing-filename'] };
}

/** `qemu-img check` of a qcow2 (read-only, -U): undefined when consistent, else the last lines it printed. */
export async function checkQcow2(path: string, opts: ExecOptions = {}): Promise<string | undefined> {
  const r = await run('qemu-img', ['check', '-q', '-U', '-f', 'qcow2', path], { timeoutMs: 120_000, ...opts, allowFailure: true });
  return r.exitCode === 0 ? undefined : `exit ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`;
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
  const info = await imageInfo(backing, opts, opts.backingFormat);
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

/** qemu-img's names of the formats the builder writes besides qcow2 (vpc is VHD). */
export type OutputFormat = 'raw' | 'vpc' | 'vmdk';

export function convertImageArgs(src: string, dst: string, o: { sourceFormat: 'qcow2' | 'raw'; outputFormat: OutputFormat; options?: readonly string[] }): string[] {
  return ['convert', '-f', o.sourceFormat, '-O', o.outputFormat, ...(o.options?.length ? ['-o', o.options.join(',')] : []), src, dst];
}

export async function convertImage(src: string, dst: string, o: Parameters<typeof convertImageArgs>[2], opts: ExecOptions = {}): Promise<void> {
  await run('qemu-img', convertImageArgs(src, dst, o), { timeoutMs: 1_800_000, ...opts });
}

/** `qemu-img check` (formats that have one: qcow2, vmdk, vhdx...); throws with what it printed. */
export async function checkImage(path: string, format: string, opts: ExecOptions = {}): Promise<void> {
  const r = await run('qemu-img', ['check', '-q', '-U', '-f', format, path], { timeoutMs: 300_000, ...opts, allowFailure: true });
  if (r.exitCode !== 0) throw new UsageError(`qemu-img check ${path}: exit ${r.exitCode}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`);
}

export async function convertToQcow2(src: string, dst: string, opts: ConvertOptions & ExecOptions = {}): Promise<void> {
  await run('qemu-img', convertArgs(src, dst, opts), { timeoutMs: 1_800_000, ...opts });
}

// ---------------------------------------------------------------------------------------------
// Backing chains. A qcow2 names its backing file (and a qcow2 data file or a vmdk extent names
// raw files) by any path or QEMU pseudo-protocol it likes: "/etc/shadow", "json:{...}",
// "nbd://...". QEMU opens whatever is named when it boots the image, so the guest can read it.
// checkImageChain walks the chain one level at a time with plain `qemu-img info` (which opens
// an image without its backing file), judging each name before anything opens it; `qemu-img info
// --backing-chain` would open the whole chain first, connecting to an nbd: or http: backing file
// on the host before we could refuse it.

/** Formats a file name's extension claims; the file is then opened with that -f, never probed. */
const FORMAT_BY_EXTENSION: Readonly<Record<string, string>> = { qcow2: 'qcow2', raw: 'raw', vmdk: 'vmdk', vhd: 'vpc', vdi: 'vdi', vhdx: 'vhdx', qed: 'qed' };
const MAX_CHAIN = 16;

export interface ChainLink {
  /** Real path (symlinks resolved). */
  path: string;
  format: string;
}

export interface CheckedImage extends ImageInfo {
  /** The top image's real path: boot this one (relative backing names resolve from its directory). */
  path: string;
  /** Top image first, then each backing file. */
  chain: ChainLink[];
}

export interface ChainPolicy {
  /** The tool's cache directory: backing files may also live there (bases). */
  cacheDir?: string;
  /** Format the caller knows the top image has (otherwise taken from its extension, or probed). */
  format?: string;
  /** More directories backing files may live in. */
  allowedDirs?: readonly string[];
}

/** Why a path cannot be put on QEMU's command line as is, or undefined when it can. */
export function qemuPathProblem(p: string): string | undefined {
  // -drive/-blockdev split options at ',' ("a,b" would start an option "b"); a ':' before the
  // first '/' selects a protocol driver; control characters break the command line and logs.
  if (p.includes(',')) return "it contains ','";
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return 'it contains a control character';
  if (/^[^/]*:/.test(p)) return 'it names a QEMU protocol (a ":" before the first "/")';
  return undefined;
}

export function formatFromName(p: string): string | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(p)?.[1]?.toLowerCase();
  return ext ? FORMAT_BY_EXTENSION[ext] : undefined;
}

function inside(p: string, dir: string): boolean {
  const rel = relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

interface InfoJson {
  format: string;
  'virtual-size': number;
  'actual-size': number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string; extents?: Array<{ filename?: string }> } };
}

async function realOrRefuse(p: string, what: string, top: string): Promise<string> {
  try {
    return await realpath(p);
  } catch {
    throw new UsageError(`${top} refers to ${what} ${p}, which does not exist; give an image whose backing files are present.`);
  }
}

/**
 * Inspects an image and every file its chain names, refusing (UsageError, exit 2) any that lives
 * outside the image's own directory and the cache, that uses a json: or protocol name, whose
 * backing file has no recorded format, that is not the format its name claims, or whose path
 * has QEMU option syntax in it. Callers boot the returned path with the returned formats.
 */
export async function checkImageChain(path: string, policy: ChainPolicy = {}, opts: ExecOptions = {}): Promise<CheckedImage> {
  const shown = JSON.stringify(path);
  const givenProblem = qemuPathProblem(path);
  if (givenProblem) throw new UsageError(`image path ${shown} cannot be given to QEMU because ${givenProblem}; rename or move the file.`);
  let top: string;
  try {
    top = await realpath(path);
  } catch {
    throw new UsageError(`image ${path} does not exist.`);
  }
  if (!(await stat(top)).isFile()) throw new UsageError(`image ${path} is not a regular file.`);
  const roots = [dirname(top), ...(policy.cacheDir ? [policy.cacheDir] : []), ...(policy.allowedDirs ?? [])].map((d) => resolve(d));
  const realRoots = await Promise.all(roots.map((d) => realpath(d).catch(() => d)));
  const allowed = (p: string): boolean => realRoots.some((r) => inside(p, r));
  const where = `${roots.slice(0, 2).join(' or ')}`;
  const chain: ChainLink[] = [];
  let current = top;
  let format = policy.format ?? formatFromName(top);
  let first: InfoJson | undefined;
  for (;;) {
    const problem = qemuPathProblem(current);
    if (problem) throw new UsageError(`image ${path} has ${current} in its chain, which cannot be given to QEMU because ${problem}; rename or move it.`);
    if (chain.some((l) => l.path === current)) throw new UsageError(`image ${path} has a backing chain that loops through ${current}; fix it with qemu-img rebase.`);
    if (chain.length >= MAX_CHAIN) throw new UsageError(`image ${path} has a backing chain longer than ${MAX_CHAIN} files; flatten it with qemu-img convert.`);
    const args = ['info', '--output=json', '-U', ...(format ? ['-f', format] : []), current];
    const r = await run('qemu-img', args, { timeoutMs: 30_000, ...opts, allowFailure: true });
    if (r.exitCode !== 0) {
      const why = r.stderr.trim().split('\n').pop()?.replace(/^qemu-img: /, '') ?? '';
      const claim = format && !policy.format && chain.length === 0 ? ` (its name says ${format})` : '';
      throw new UsageError(`${current} is not a ${format ?? 'disk'} image qemu-img can read${claim}: ${why}`);
    }
    const j = JSON.parse(r.stdout) as InfoJson;
    if (format && j.format !== format) throw new UsageError(`${current} is ${j.format}, not the ${format} it is said to be.`);
    chain.push({ path: current, format: j.format });
    first ??= j;
    const dir = dirname(current);
    // Other files this one makes QEMU open: a qcow2 external data file, vmdk extents.
    const data = j['format-specific']?.data;
    const extra = [...(data?.['data-file'] ? [data['data-file']] : []), ...(data?.extents ?? []).map((e) => e.filename ?? '')];
    for (const name of extra) {
      if (qemuPathProblem(name)) throw new UsageError(`image ${path}: ${current} refers to ${JSON.stringify(name)}, a protocol or json: name; only plain files beside the image are accepted.`);
      const real = await realOrRefuse(resolve(dir, name), 'the data file', path);
      if (real === current) continue; // a monolithic vmdk's one extent is itself
      if (!allowed(real)) throw new UsageError(`image ${path}: ${current} refers to ${real}, outside ${where}; QEMU would let the guest read it.`);
    }
    const backing = j['backing-filename'];
    if (backing === undefined) break;
    if (/^json:/i.test(backing) || qemuPathProblem(backing)) {
      throw new UsageError(`image ${path} has the backing file ${JSON.stringify(backing.slice(0, 120))}, a json: or protocol name; only plain files in ${where} are accepted.`);
    }
    const bf = j['backing-filename-format'];
    if (!bf) throw new UsageError(`image ${path}: the backing file ${backing} of ${current} has no recorded format, so QEMU would guess it; set it with qemu-img rebase -u -F FORMAT -b ${backing} ${current}.`);
    // QEMU resolves a relative backing name from the directory of the image that names it.
    const next = await realOrRefuse(resolve(dir, backing), 'the backing file', path);
    if (!allowed(next)) throw new UsageError(`image ${path} has the backing file ${next}, outside ${where}; QEMU would let the guest read it.`);
    current = next;
    format = bf;
  }
  return { path: top, chain, format: first!.format, virtualSize: first!['virtual-size'], actualSize: first!['actual-size'], backingFile: first!['backing-filename'] };
}

/** A raw copy (sparse) of any image, for tools that read file systems in it (debugfs). */
export async function convertToRaw(src: string, dst: string, opts: { sourceFormat?: string } & ExecOptions = {}): Promise<void> {
  await run('qemu-img', ['convert', ...(opts.sourceFormat ? ['-f', opts.sourceFormat] : []), '-O', 'raw', src, dst], { timeoutMs: 600_000, ...opts });
}
