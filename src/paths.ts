// Where the package's own files (guest scripts, templates, the example tree) live, whether
// running from src/ under tsx or from dist/src/ after tsc.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'vexfs-image') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('vexfs-image: cannot find the package root');
    dir = up;
  }
}

export const PACKAGE_ROOT = findPackageRoot();
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const GUEST_DIR = join(PACKAGE_ROOT, 'guest');
export const EXAMPLE_SOURCE = join(PACKAGE_ROOT, 'examples', 'vexfs');

/** $VEXFS_IMAGE_CACHE_DIR, else $XDG_CACHE_HOME/vexfs-image, else ~/.cache/vexfs-image. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VEXFS_IMAGE_CACHE_DIR) return resolve(env.VEXFS_IMAGE_CACHE_DIR);
  const base = env.XDG_CACHE_HOME ? resolve(env.XDG_CACHE_HOME) : join(homedir(), '.cache');
  return join(base, 'vexfs-image');
}
