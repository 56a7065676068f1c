// Validation of names that end up in file names and guest paths.
import { UsageError } from '../errors.js';

export const VERSION_RE = /^[0-9A-Za-z][0-9A-Za-z.+~-]*$/;
export const VARIANT_RE = /^[a-z][a-z0-9-]*$/;

export function checkVersion(v: string, from = '--version'): string {
  if (!VERSION_RE.test(v) || v.includes('..')) {
    throw new UsageError(`invalid version ${JSON.stringify(v)} (from ${from}): must match ${VERSION_RE.source} and contain no '..'`);
  }
  return v;
}

export function checkVariantName(v: string, from = '--variant'): string {
  if (!VARIANT_RE.test(v)) {
    throw new UsageError(`invalid variant name ${JSON.stringify(v)} (from ${from}): lower-case letters, digits and '-' only, starting with a letter`);
  }
  return v;
}

/** "10G", "512M", "2048" (bytes) -> bytes. */
export function parseSize(s: string, from = '--disk-size'): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size ${JSON.stringify(s)} (from ${from}): use a number with K, M, G or T, e.g. 10G`);
  const unit = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * unit);
}
