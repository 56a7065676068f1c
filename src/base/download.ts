// HTTP(S) downloads for cloud images: resumable (Range), retried with back-off, idle-timed-out,
// abortable, with progress events. Nothing here decides trust: the caller verifies the bytes
// against the publisher's SHA256SUMS (or --checksum) before the file gets its real name.
import { open, rm, stat, mkdir } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { AbortedError, VexfsImageError, isAbort, throwIfAborted } from '../errors.js';
import { PACKAGE_VERSION } from '../paths.js';
import { sha256File } from '../tools/hash.js';

export interface DownloadProgress {
  url: string;
  /** Bytes in the partial file so far (including resumed bytes). */
  received: number;
  /** Full size when the server said it. */
  total?: number;
  /** Bytes already there when this attempt started. */
  resumedFrom: number;
  attempt: number;
  done: boolean;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Attempts after a failure that made no progress (default 5). */
  retries?: number;
  /** First back-off delay, doubled each time, capped at 30 s (default 1 s). */
  retryDelayMs?: number;
  /** Abort an attempt when no byte arrives for this long (default 60 s). */
  idleTimeoutMs?: number;
  onProgress?: (p: DownloadProgress) => void;
  onInfo?: (msg: string) => void;
}

export class DownloadError extends VexfsImageError {
  constructor(
    message: string,
    readonly url: string,
    readonly retryable: boolean,
    readonly status?: number,
    options: { cause?: unknown; hint?: string } = {},
  ) {
    super('E_DOWNLOAD', message, options);
  }
}

export class ChecksumMismatchError extends VexfsImageError {
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super('E_CHECKSUM', `${what}: checksum mismatch\n    expected sha256:${expected}\n    actual   sha256:${actual}`, {
      hint: 'the file was deleted; if the publisher changed the image, fetch a fresh SHA256SUMS (or pass the right --checksum)',
    });
  }
}

const MAX_REDIRECTS = 5;

interface OpenedResponse {
  res: http.IncomingMessage;
  url: string;
}

function get(url: string, headers: Record<string, string>, opts: DownloadOptions, redirects = 0): Promise<OpenedResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) return reject(new DownloadError(`unsupported URL scheme ${u.protocol} in ${url}`, url, false));
    const req = mod.get(u, { headers: { 'user-agent': `vexfs-image/${PACKAGE_VERSION}`, ...headers }, signal: opts.signal }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new DownloadError(`too many redirects from ${url}`, url, false, status));
        const next = new URL(res.headers.location, u).toString();
        return resolve(get(next, headers, opts, redirects + 1));
      }
      resolve({ res, url });
    });
    req.setTimeout(opts.idleTimeoutMs ?? 60_000, () => req.destroy(new DownloadError(`no data from ${url} for ${Math.round((opts.idleTimeoutMs ?? 60_000) / 1000)} s`, url, true)));
    req.on('error', (e) => reject(e));
  });
}

function httpError(url: string, status: number): DownloadError {
  const retryable = status >= 500 || status === 429 || status === 408;
  const hint = status === 404 ? 'check the URL, or pass a local image path with --distro PATH in air-gapped builds' : undefined;
  return new DownloadError(`GET ${url} failed: HTTP ${status}`, url, retryable, status, { hint });
}

/** Normalises whatever a failed attempt threw into a DownloadError or an AbortedError. */
function asDownloadError(e: unknown, url: string, signal?: AbortSignal): VexfsImageError {
  if (signal?.aborted || isAbort(e)) return new AbortedError(`download of ${url} interrupted`);
  if (e instanceof VexfsImageError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const msg = e instanceof Error ? e.message : String(e);
  // Connection refused/reset, DNS failures, sockets closed mid-body: all worth another try.
  return new DownloadError(`GET ${url} failed: ${code ? `${code} ` : ''}${msg}`, url, true, undefined, { cause: e });
}

/** Runs attempt() until it succeeds, retrying retryable errors with exponential back-off. */
async function withRetries<T>(url: string, opts: DownloadOptions, attempt: (n: number) => Promise<{ value: T } | { progressed: boolean; error: unknown }>): Promise<T> {
  const retries = opts.retries ?? 5;
  let failures = 0;
  for (let n = 1; ; n++) {
    throwIfAborted(opts.signal);
    const r = await attempt(n);
    if ('value' in r) return r.value;
    const err = asDownloadError(r.error, url, opts.signal);
    if (!(err instanceof DownloadError) || !err.retryable) throw err;
    failures = r.progressed ? 1 : failures + 1;
    if (failures > retries || n >= 50) throw err;
    const wait = Math.min(30_000, (opts.retryDelayMs ?? 1000) * 2 ** (failures - 1));
    opts.onInfo?.(`${err.message}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${n + 1})`);
    await delay(wait, undefined, { signal: opts.signal }).catch(() => {
      throw new AbortedError(`download of ${url} interrupted`);
    });
  }
}

/** A small text file (SHA256SUMS), with the same retries; at most 4 MiB. */
export async function fetchText(url: string, opts: DownloadOptions = {}): Promise<string> {
  return withRetries<string>(url, opts, async () => {
    try {
      const { res } = await get(url, {}, opts);
      if (res.statusCode !== 200) {
        res.resume();
        return { progressed: false, error: httpError(url, res.statusCode ?? 0) };
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of res as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > 4 * 1024 * 1024) throw new DownloadError(`${url} is larger than 4 MiB: not a checksum list`, url, false);
        chunks.push(c);
      }
      checkLength(res, size, 0, url);
      return { value: Buffer.concat(chunks).toString('utf8') };
    } catch (e) {
      return { progressed: false, error: e };
    }
  });
}

function checkLength(res: http.IncomingMessage, received: number, offset: number, url: string): void {
  const len = res.headers['content-length'];
  if (len !== undefined && received - offset !== Number(len)) {
    throw new DownloadError(`GET ${url}: connection closed after ${received - offset} of ${len} bytes`, url, true);
  }
}

/**
 * Downloads url into partPath, resuming from the bytes already in partPath (Range request);
 * a server that ignores Range makes it start over. Returns the final size.
 */
export async function downloadToFile(url: string, partPath: string, opts: DownloadOptions = {}): Promise<number> {
  await mkdir(dirname(partPath), { recursive: true });
  return withRetries<number>(url, opts, async (attempt) => {
    let offset = (await stat(partPath).catch(() => undefined))?.size ?? 0;
    const startedAt = offset;
    let received = offset;
    let total: number | undefined;
    try {
      const { res } = await get(url, offset > 0 ? { range: `bytes=${offset}-` } : {}, opts);
      const status = res.statusCode ?? 0;
      if (status === 416 && offset > 0) {
        // Nothing left to send: the part is complete if its size is the full size.
        res.resume();
        const full = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''))?.[1];
        if (full !== undefined && Number(full) === offset) return { value: offset };
        await rm(partPath, { force: true });
        return { progressed: false, error: new DownloadError(`GET ${url}: the partial file does not fit the remote one; starting over`, url, true) };
      }
      if (status === 206) {
        const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== offset) {
          res.resume();
          await rm(partPath, { force: true });
          return { progressed: false, error: new DownloadError(`GET ${url}: unexpected Content-Range ${String(res.headers['content-range'])}; starting over`, url, true) };
        }
        total = m[2] === '*' ? undefined : Number(m[2]);
        if (attempt > 1 || offset > 0) opts.onInfo?.(`resuming ${url} at byte ${offset}`);
      } else if (status === 200) {
        if (offset > 0) opts.onInfo?.(`${url}: the server does not resume; starting over`);
        offset = 0;
        received = 0;
        const len = res.headers['content-length'];
        total = len !== undefined ? Number(len) : undefined;
      } else {
        res.resume();
        return { progressed: false, error: httpError(url, status) };
      }
      const fh = await open(partPath, offset > 0 ? 'a' : 'w');
      try {
        let lastReport = 0;
        for await (const chunk of res as AsyncIterable<Buffer>) {
          await fh.write(chunk);
          received += chunk.length;
          const now = Date.now();
          if (now - lastReport > 200) {
            lastReport = now;
            opts.onProgress?.({ url, received, total, resumedFrom: offset, attempt, done: false });
          }
        }
      } finally {
        await fh.close();
      }
      checkLength(res, received, offset, url);
      opts.onProgress?.({ url, received, total, resumedFrom: offset, attempt, done: true });
      return { value: received };
    } catch (e) {
      let error = e;
      if (total !== undefined && received < total && !(e instanceof VexfsImageError) && !opts.signal?.aborted) {
        // Node reports a body cut short (clean close or reset) as "aborted": say what happened.
        const why = e instanceof Error ? e.message : String(e);
        error = new DownloadError(`GET ${url}: connection closed after ${received} of ${total} bytes (${why})`, url, true, undefined, { cause: e });
      }
      return { progressed: received > startedAt, error };
    }
  });
}

/**
 * Downloads url to partPath (resuming), then checks its SHA-256. A mismatch deletes the
 * partial file and throws ChecksumMismatchError; the caller renames partPath only after this
 * returns.
 */
export async function downloadVerified(url: string, partPath: string, expectedSha256: string, opts: DownloadOptions = {}): Promise<void> {
  await downloadToFile(url, partPath, opts);
  const actual = await sha256File(partPath);
  if (actual !== expectedSha256) {
    await rm(partPath, { force: true });
    throw new ChecksumMismatchError(url, expectedSha256, actual);
  }
}
