// The initramfs archive: cpio "newc" (the format the kernel unpacks), gzip-compressed. Written
// here rather than by piping find into cpio: the format is a 110-byte ASCII header per entry, and
// building it in memory lets entries come from anywhere (a busybox, the init script, modules)
// without staging a directory tree. No npm package for writing newc is maintained.
import { gzipSync } from 'node:zlib';

export interface CpioEntry {
  /** Relative path in the archive, no leading slash. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (default 0755 for dirs and files, 0777 for symlinks). */
  mode?: number;
  /** File content, or a symlink's target. */
  data?: Buffer | string;
}

const TYPE_BITS = { file: 0o100000, dir: 0o040000, symlink: 0o120000 } as const;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: number[], name: string): Buffer {
  const hex = fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const nameBuf = Buffer.from(`${name}\0`);
  const h = Buffer.from(`070701${hex}`);
  return Buffer.concat([h, nameBuf, Buffer.alloc(pad4(h.length + nameBuf.length))]);
}

/** The uncompressed newc archive (with its TRAILER!!! entry). */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const mode = TYPE_BITS[e.type] | (e.mode ?? (e.type === 'symlink' ? 0o777 : 0o755));
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    parts.push(header([ino++, mode, 0, 0, e.type === 'dir' ? 2 : 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(e.path) + 1, 0], e.path));
    parts.push(data, Buffer.alloc(pad4(data.length)));
  }
  parts.push(header([0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 'TRAILER!!!'.length + 1, 0], 'TRAILER!!!'));
  return Buffer.concat(parts);
}

/** gzip -1: the kernel inflates it in a blink, and it is made on every quick test. */
export function initramfs(entries: readonly CpioEntry[]): Buffer {
  return gzipSync(cpioNewc(entries), { level: 1 });
}
