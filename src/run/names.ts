// Names of running instances and their login users. An instance name becomes a directory name
// and a guest host name, so it is checked as strictly as variant names (config/names.ts), but
// keeps the dots of a version: the default name is the image's file name, vexfs-minimal-1.0.0.
import { basename } from 'node:path';
import { UsageError } from '../errors.js';

export const INSTANCE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const USER_NAME_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/**
 * Not `vexfs`: built images keep that build account locked with no login shell (golden cleanup),
 * and cloud-init leaves an existing account as it is, so a key for it would never log in.
 */
export const DEFAULT_RUN_USER = 'vexfs-run';

export function checkInstanceName(name: string, from = '--name'): string {
  if (!INSTANCE_NAME_RE.test(name) || name.includes('..')) {
    throw new UsageError(
      `invalid instance name ${JSON.stringify(name)} (from ${from}): letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 63 characters, no '..'`,
    );
  }
  return name;
}

/** The default name: the image's file name without its extension, made into a valid name. */
export function instanceNameFor(imagePath: string): string {
  const stem = basename(imagePath).replace(/\.(qcow2|img|raw)$/i, '');
  const name = stem
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return INSTANCE_NAME_RE.test(name) ? name : 'vm';
}

export function checkUserName(user: string, from = '--user'): string {
  if (!USER_NAME_RE.test(user) || user === 'root') {
    throw new UsageError(`invalid user name ${JSON.stringify(user)} (from ${from}): lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters, not root`);
  }
  return user;
}

/** A host name label (RFC 1123) for the guest: dots and underscores become '-'. */
export function hostnameFor(name: string): string {
  const h = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || 'vexfs-run';
}
