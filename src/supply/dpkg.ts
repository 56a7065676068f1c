// The image's own package database: /var/lib/dpkg/status (deb822 stanzas) parsed into the
// installed packages, and Debian machine-readable copyright files (DEP-5) into licence names.
// Hand-written: the format is a few lines of RFC 822-style fields and no maintained npm parser
// of dpkg status exists. Licence names: DEP-5's short names mapped to SPDX ids by a small table
// (spdx-correct guesses npm-style names and maps Debian's GPL-2+ to GPL-2.0-only: wrong here);
// the list of valid SPDX ids is the maintained spdx-license-ids package.
import { createRequire } from 'node:module';

const SPDX_IDS: readonly string[] = createRequire(import.meta.url)('spdx-license-ids') as string[];
const SPDX_BY_LOWER = new Map(SPDX_IDS.map((id) => [id.toLowerCase(), id]));

export interface DebPackage {
  name: string;
  version: string;
  architecture: string;
  /** The source package (the binary's own name when the stanza has no Source field). */
  source: string;
  sourceVersion: string;
  /** The full dpkg Status, e.g. "install ok installed". */
  status: string;
  maintainer?: string;
  homepage?: string;
}

/** deb822 stanzas: field names as written (case kept), continuation lines joined with \n. */
export function parseDeb822(text: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = [];
  let cur: Record<string, string> = {};
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur);
      cur = {};
      last = undefined;
    } else if (/^[ \t]/.test(line)) {
      if (last) cur[last] = `${cur[last]}\n${line.trim()}`;
    } else {
      const i = line.indexOf(':');
      if (i <= 0) throw new Error(`not a deb822 field line: ${JSON.stringify(line.slice(0, 80))}`);
      last = line.slice(0, i);
      cur[last] = line.slice(i + 1).trim();
    }
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

/** The packages whose files are on the disk (status "installed" or half-configured states), sorted by name. */
export function parseDpkgStatus(text: string): DebPackage[] {
  const out: DebPackage[] = [];
  for (const s of parseDeb822(text)) {
    const status = s.Status ?? '';
    const state = status.split(/\s+/)[2];
    // not-installed and config-files leave no package files behind: not part of the image.
    if (!s.Package || !s.Version || !state || state === 'not-installed' || state === 'config-files') continue;
    // "Source: name (version)" when the source version differs from the binary's.
    const m = /^(\S+)(?:\s+\((\S+)\))?$/.exec(s.Source ?? '');
    out.push({
      name: s.Package,
      version: s.Version,
      architecture: s.Architecture ?? 'all',
      source: m?.[1] ?? s.Package,
      sourceVersion: m?.[2] ?? s.Version,
      status,
      ...(s.Maintainer ? { maintainer: s.Maintainer } : {}),
      ...(s.Homepage ? { homepage: s.Homepage } : {}),
    });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.architecture < b.architecture ? -1 : 1));
}

/** The distinct License: names of a DEP-5 copyright file; [] for a free-form one. */
export function dep5Licences(text: string): string[] {
  if (!/^Format:\s*\S/m.test(text.split('\n\n')[0] ?? '')) return [];
  const names = new Set<string>();
  for (const m of text.matchAll(/^License:[ \t]*([^\n]+)$/gm)) {
    const name = m[1]!.trim();
    if (name) names.add(name);
  }
  return [...names];
}

/** DEP-5 short names whose SPDX id is not the same word (the GNU family's "+" means "or later"). */
const DEP5_NAMES: Record<string, string> = { expat: 'MIT', artistic: 'Artistic-1.0', 'artistic-1': 'Artistic-1.0', 'artistic-2': 'Artistic-2.0', 'zlib': 'Zlib', 'mpl-2': 'MPL-2.0', 'apache-2': 'Apache-2.0', 'cc0': 'CC0-1.0' };

/** One DEP-5 short name as an SPDX id, or undefined when it has none (public-domain, permissive, ...). */
export function spdxId(name: string): string | undefined {
  const n = name.trim().toLowerCase();
  const gnu = /^(a?gpl|lgpl|gfdl)-(\d(?:\.\d)?)(\+)?$/.exec(n);
  if (gnu) {
    const version = gnu[2]!.includes('.') ? gnu[2]! : `${gnu[2]}.0`;
    return SPDX_BY_LOWER.get(`${gnu[1]}-${version}-${gnu[3] ? 'or-later' : 'only'}`);
  }
  return DEP5_NAMES[n] ?? SPDX_BY_LOWER.get(n);
}

/**
 * One SPDX expression for a package's licence names (each may be "GPL-2+ or Artistic"): AND of
 * the parts, as the package's files are under all of them together. undefined when any part has
 * no SPDX id (the SBOM then says NOASSERTION rather than guess).
 */
export function spdxExpression(names: readonly string[]): string | undefined {
  const parts = new Set<string>();
  for (const name of names) {
    if (/\s(and|with)\s|,/i.test(name)) return undefined;
    const ids = name.split(/\s+or\s+/i).map(spdxId);
    if (!ids.length || ids.some((id) => id === undefined)) return undefined;
    const unique = [...new Set(ids as string[])].sort();
    parts.add(unique.length > 1 ? `(${unique.join(' OR ')})` : unique[0]!);
  }
  if (!parts.size) return undefined;
  const sorted = [...parts].sort();
  return sorted.length === 1 ? sorted[0]!.replace(/^\((.*)\)$/, '$1') : sorted.join(' AND ');
}
