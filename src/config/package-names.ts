// Debian package names and dpkg-query patterns as they may appear in the config. These strings
// reach root commands on the host (mmdebstrap's --include, which hands them to apt) and apt or
// dpkg-query in the guest, so anything that could be read as an option ("-o...") or carry a
// separator (",", " ") is refused before it gets there.
import { UsageError } from '../errors.js';

/**
 * Debian policy 5.6.7 (`[a-z0-9][a-z0-9+.-]+`, two characters at least), with apt's optional
 * `:ARCH` qualifier and `=VERSION` pin (policy 5.6.12 version characters, epoch colon included).
 */
export const DEBIAN_PACKAGE_RE = /^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9][a-z0-9-]*)?(?:=[0-9][A-Za-z0-9.+~:-]*)?$/;

/** A dpkg-query glob (`linux-headers-*`, `gcc-[0-9][0-9]`): package-name characters plus * ? [ ]. */
export const DPKG_PATTERN_RE = /^[a-z0-9*?[][a-z0-9+.*?[\]-]*$/;

export const PACKAGE_NAME_RULE = 'a Debian package name ([a-z0-9][a-z0-9+.-]+, optionally :ARCH and =VERSION)';
export const PACKAGE_PATTERN_RULE = "a dpkg-query pattern (package-name characters and * ? [ ], not starting with '-')";

export function isDebianPackageName(s: string): boolean {
  return DEBIAN_PACKAGE_RE.test(s);
}

/** Throws UsageError naming the first entry that is not a package name (defence in depth for tool modules). */
export function checkPackageNames(names: readonly string[], from: string): readonly string[] {
  const bad = names.find((n) => !isDebianPackageName(n));
  if (bad !== undefined) throw new UsageError(`invalid package name ${JSON.stringify(bad)} in ${from}: it must be ${PACKAGE_NAME_RULE}.`);
  return names;
}
