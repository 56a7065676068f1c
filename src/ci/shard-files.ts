// A shard of `ci merge` is a directory downloaded from another CI job: untrusted. Its files are
// hard-linked, copied or read into the merged output, and link()/copyFile()/cp() would carry a
// symlink to a host file (or its content) along, so a shard holding anything but regular files
// and directories is refused before anything is merged.
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { UsageError } from '../errors.js';

const MAX_ENTRIES = 100_000;

function kind(st: import('node:fs').Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isCharacterDevice()) return 'a character device';
  return 'not a regular file';
}

/** Throws UsageError naming the first entry under dir that is not a regular file or a directory. */
export async function checkShardTree(dir: string): Promise<void> {
  // The shard itself may be reached through a symlink (the user named it); what is inside may not.
  if (!(await stat(dir)).isDirectory()) throw new UsageError(`ci merge: shard ${dir} is not a directory; name the --artifacts-dir of a vexfs-image ci run.`);
  let seen = 0;
  const walk = async (d: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      if (++seen > MAX_ENTRIES) throw new UsageError(`ci merge: shard ${dir} holds more than ${MAX_ENTRIES} files; it is not a vexfs-image ci artifacts directory.`);
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
      else if (!st.isFile()) {
        const to = st.isSymbolicLink() ? ` to ${await readlink(p).catch(() => '?')}` : '';
        throw new UsageError(`ci merge: ${relative(dir, p)} in shard ${dir} is ${kind(st)}${to}; a shard may hold only regular files and directories, so it was not merged.`);
      }
    }
  };
  await walk(dir);
}
