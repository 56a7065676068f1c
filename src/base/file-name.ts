// The name a downloaded base gets in the cache comes from the URL, which the user (or a config
// file from a source tree) controls. Percent-decoding can turn "%2F.." into "/..", so the decoded
// name is checked, not derived "safely": a silently renamed file would no longer match the
// publisher's SHA256SUMS entry, and a refused one tells the user what is wrong.
import { UsageError } from '../errors.js';

/** Why name cannot be a plain file name inside a cache directory, or undefined when it can. */
export function unsafeFileNameReason(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name === '.' || name === '..') return `it is ${JSON.stringify(name)}`;
  if (name.includes('/')) return "it contains '/'";
  if (name.includes('\\')) return "it contains '\\'";
  // Control characters (NUL included) break file systems, logs and QEMU's command line alike.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'it contains a control character';
  // QEMU's -drive/-blockdev option syntax: a ',' would start a new option once in file=...
  if (name.includes(',')) return "it contains ','";
  if (name.startsWith('-')) return "it starts with '-'";
  if (Buffer.byteLength(name) > 255) return 'it is longer than 255 bytes';
  return undefined;
}

/** Decodes a URL's last path segment and refuses a name that could leave its directory. */
export function urlFileName(url: URL, spec: string): string {
  const last = url.pathname.split('/').pop() ?? '';
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    throw new UsageError(`the URL ${spec} has a malformed percent-escape in its file name; fix the URL.`);
  }
  if (last === '') throw new UsageError(`the URL ${spec} does not name a file (it ends with '/'); give the image file's URL.`);
  const why = unsafeFileNameReason(name);
  if (why) throw new UsageError(`the URL ${spec} names the file ${JSON.stringify(name)}, which cannot be saved in the cache because ${why}; give a URL whose last path segment is a plain file name.`);
  return name;
}

/** Defence in depth where a name is joined to a directory (entries read back from disk, stages). */
export function assertPlainFileName(name: string, what: string): string {
  const why = unsafeFileNameReason(name);
  if (why) throw new UsageError(`${what} ${JSON.stringify(name)} is not a plain file name: ${why}.`);
  return name;
}
