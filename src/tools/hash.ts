// SHA-256 of files (streamed) and sha256sum-compatible checksum files.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (b) => h.update(b))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** One line in `sha256sum` format (two spaces: text mode), so `sha256sum -c` verifies it. */
export function sha256sumLine(digest: string, fileName: string): string {
  return `${digest}  ${fileName}\n`;
}

/** Writes `<file>.sha256` next to the file, naming it by its base name; returns the digest. */
export async function writeChecksumFile(path: string, checksumPath = `${path}.sha256`, name = basename(path)): Promise<string> {
  const digest = await sha256File(path);
  await writeFile(checksumPath, sha256sumLine(digest, name));
  return digest;
}
