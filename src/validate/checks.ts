// The check list: the payload's derived checks around the built-in ones (guest/checks/builtin.yaml),
// merged with the user's (from vexfs-image.yaml or a --checks file), checked for consistency, then
// narrowed to one variant.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { derivePayloadChecks } from '../config/payload-checks.js';
import { DEFAULT_PAYLOAD } from '../config/payload.js';
import type { Payload } from '../config/payload-types.js';
import { CheckSchema, type CheckDef } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { GUEST_DIR } from '../paths.js';

export const BUILTIN_CHECKS_FILE = join(GUEST_DIR, 'checks', 'builtin.yaml');

const CheckListSchema = z.array(CheckSchema);

/**
 * Parses a YAML list of checks (the built-in file or a --checks file). With standalone false the
 * list may need checks of the list it will be merged after (as vexfs-image.yaml's checks do).
 */
export function parseChecks(text: string, where: string, opts: { standalone?: boolean } = {}): CheckDef[] {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new UsageError(`${where}: not valid YAML: ${msg}`);
  }
  // A file may hold the list itself or a mapping with a `checks:` list (like vexfs-image.yaml).
  if (data && typeof data === 'object' && !Array.isArray(data) && 'checks' in data) data = (data as { checks: unknown }).checks;
  const r = CheckListSchema.safeParse(data ?? []);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`);
    throw new UsageError(`${where}: invalid check list: ${issues.join('; ')}`, { hint: 'see docs/checks.md for the check format' });
  }
  assertConsistent(r.data, where, opts.standalone ?? true);
  return r.data;
}

let genericCache: CheckDef[] | undefined;

/** The payload-independent checks of guest/checks/builtin.yaml (system, security, kernel log). */
export function loadGenericChecks(file = BUILTIN_CHECKS_FILE): CheckDef[] {
  if (file === BUILTIN_CHECKS_FILE && genericCache) return genericCache;
  const checks = parseChecks(readFileSync(file, 'utf8'), file);
  if (file === BUILTIN_CHECKS_FILE) genericCache = checks;
  return checks;
}

/**
 * The built-in list for a payload: its derived checks, the generic ones, its unload checks just
 * before the first kernel-log check (which judges the log of everything above it).
 */
export function builtinChecksFor(payload: Payload, generic: readonly CheckDef[] = loadGenericChecks(), opts: { signed?: boolean } = {}): CheckDef[] {
  const { head, tail } = derivePayloadChecks(payload, opts);
  const at = generic.findIndex((c) => c.type === 'kernel-log');
  const cut = at < 0 ? generic.length : at;
  const out = [...head, ...generic.slice(0, cut), ...tail, ...generic.slice(cut)];
  assertConsistent(out, `built-in checks for the payload (${BUILTIN_CHECKS_FILE} + derived)`);
  return out;
}

/** The built-in list of the default (VexFS) payload; with `file`, around that file's checks. */
export function loadBuiltinChecks(file = BUILTIN_CHECKS_FILE): CheckDef[] {
  return builtinChecksFor(DEFAULT_PAYLOAD, loadGenericChecks(file));
}

/** Unique ids; `needs` only names earlier checks (so the list order is the run order). */
export function assertConsistent(checks: readonly CheckDef[], where = 'checks', checkNeeds = true): void {
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.id)) throw new UsageError(`${where}: duplicate check id ${JSON.stringify(c.id)}`);
    for (const n of checkNeeds ? c.needs : []) {
      if (n === c.id) throw new UsageError(`${where}: check ${c.id} needs itself`);
      if (!seen.has(n)) {
        const later = checks.some((x) => x.id === n);
        throw new UsageError(
          `${where}: check ${c.id} needs ${JSON.stringify(n)}, which ${later ? 'comes later in the list' : 'does not exist'}`,
          { hint: later ? 'move the needed check above the one that needs it: checks run in list order' : undefined },
        );
      }
    }
    seen.add(c.id);
  }
}

/**
 * Built-in checks, then the user's: a user check whose id matches a built-in one replaces it in
 * place, any other is appended in the user's order.
 */
export function mergeChecks(base: readonly CheckDef[], user: readonly CheckDef[]): CheckDef[] {
  const out = [...base];
  for (const u of user) {
    const i = out.findIndex((c) => c.id === u.id);
    if (i >= 0) out[i] = u;
    else out.push(u);
  }
  assertConsistent(out, 'checks (built-in + vexfs-image.yaml)');
  return out;
}

export function appliesTo(check: CheckDef, variant: string): boolean {
  return !check.variants || check.variants.includes(variant);
}

export function checksForVariant(checks: readonly CheckDef[], variant: string): CheckDef[] {
  return checks.filter((c) => appliesTo(c, variant));
}
