// Streamed gzip with progress callbacks (images are hundreds of MB: never buffer them).
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip, constants } from 'node:zlib';

export async function gzipFile(
  src: string,
  dst: string,
  opts: { level?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
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
  await pipeline(
    createReadStream(src, { highWaterMark: 1 << 20 }),
    meter,
    createGzip({ level: opts.level ?? constants.Z_DEFAULT_COMPRESSION, memLevel: 9 }),
    createWriteStream(dst),
    { signal: opts.signal },
  );
}
