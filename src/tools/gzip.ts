// Streamed gzip with progress callbacks (images are hundreds of MB: never buffer them). pigz
// (Debian package pigz: the same gzip format, deterministic whatever its thread count) when the
// host has it: on 2 cores it halves finalise's gzip of a minimal image (2.7 s against 5.2-5.9 s
// with gzip -6, scripts/bench-build.mjs); zlib in-process otherwise.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { which } from './host-tools.js';

export async function gzipFile(
  src: string,
  dst: string,
  opts: { level?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void; /** default: when the host has it */ pigz?: boolean } = {},
): Promise<void> {
  const total = (await stat(src)).size;
  let done = 0;
  let lastReport = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      const now = Date.now();
      if (opts.onProgress && (now - lastReport > 1000 || done === total)) {
        lastReport = now;
        opts.onProgress(done, total);
      }
      cb(null, chunk);
    },
  });
  const level = opts.level ?? 6; // zlib's default (Z_DEFAULT_COMPRESSION)
  const input = createReadStream(src, { highWaterMark: 1 << 20 });
  if (opts.pigz ?? which('pigz') !== undefined) {
    // -n: no name or time in the header, as zlib writes it.
    const pigz = spawn('pigz', [`-${level}`, '-n', '-c'], { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.signal ? { signal: opts.signal } : {}) });
    let err = '';
    pigz.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve, reject) => {
      pigz.on('error', reject);
      pigz.on('close', resolve);
    });
    await Promise.all([pipeline(input, meter, pigz.stdin, { signal: opts.signal }), pipeline(pigz.stdout, createWriteStream(dst), { signal: opts.signal })]);
    const code = await exited;
    if (code !== 0) throw new Error(`pigz exited with code ${code}: ${err.trim()}`);
    return;
  }
  await pipeline(input, meter, createGzip({ level, memLevel: 9 }), createWriteStream(dst), { signal: opts.signal });
}
