// Validation checks derived from the payload, as check definitions (data) for the check
// compiler: per module modinfo, modprobe, listed and (last) unload; per declared filesystem
// /proc/filesystems and a mount round trip; per tool its version; per file its existence; per
// service enabled and active. For the default (VexFS) payload these are exactly the ids, order
// and settings the built-in list had before payloads existed.
import { CheckSchema, type CheckDef } from './schema.js';
import type { Payload } from './payload-types.js';
import { IMAGE_SIGNER_FILE } from '../supply/signing.js';

export interface DerivedChecks {
  /** Before the built-in system checks. */
  head: CheckDef[];
  /** After them, before the kernel-log check (unloading last: the log check reads it all). */
  tail: CheckDef[];
}

const parse = (c: Record<string, unknown>): CheckDef => CheckSchema.parse(c);

/** Literal text as a regex, with {{var}} placeholders left for the compiler (which escapes values). */
export function literalPattern(s: string): string {
  return s
    .split(/(\{\{\s*[a-z_]+\s*\}\})/)
    .map((part, i) => (i % 2 ? part : part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')))
    .join('');
}

export function derivePayloadChecks(p: Payload, opts: { signed?: boolean } = {}): DerivedChecks {
  const many = p.modules.length > 1;
  const mid = (base: string, name: string): string => (many ? `${base}-${name}` : base);
  const g = p.group;
  const head: CheckDef[] = [];
  for (const m of p.modules) {
    const info = mid('module-info', m.name);
    const load = mid('module-load', m.name);
    head.push(
      parse({ id: info, description: `modinfo ${m.name} finds the module`, group: g, type: 'kernel-module', module: m.name, expect: { available: true } }),
      parse({ id: load, description: `modprobe ${m.name}`, group: g, type: 'kernel-module', module: m.name, action: 'load', needs: [info] }),
      parse({ id: mid('module-listed', m.name), description: `${m.name} is listed by lsmod`, group: g, type: 'kernel-module', module: m.name, expect: { loaded: true }, needs: [load] }),
    );
    // `signing:` in the config: modinfo names the signer the build recorded in the image (the
    // build checked it against the certificate; an unsigned or re-signed module fails here).
    if (opts.signed) {
      head.push(parse({
        id: mid('module-signed', m.name),
        description: `${m.name}.ko is signed (sha256) by the signer recorded in ${IMAGE_SIGNER_FILE}`,
        group: g,
        type: 'command',
        command: `s="$(cat ${IMAGE_SIGNER_FILE})" && [ -n "$s" ] && [ "$(modinfo -F signer ${m.name})" = "$s" ] && [ "$(modinfo -F sig_hashalgo ${m.name})" = sha256 ] && echo "signed by $s"`,
        needs: [info],
      }));
    }
  }
  const filesystems = p.modules.filter((m) => m.filesystem);
  const fid = (base: string, fs: string): string => (filesystems.length > 1 ? `${base}-${fs}` : base);
  for (const m of filesystems) {
    head.push(parse({ id: fid('proc-filesystems', m.filesystem!), description: `${m.filesystem} is registered in /proc/filesystems`, group: g, type: 'command', command: 'cat /proc/filesystems', expect: { stdout_matches: `^nodev\\s+${literalPattern(m.filesystem!)}$` }, needs: [mid('module-load', m.name)] }));
  }
  for (const t of p.tools) {
    if (t.version) {
      head.push(parse({ id: `${t.name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-')}-version`, description: `${t.version.command} prints ${t.version.expect}`, group: g, type: 'command', sudo: false, command: t.version.command, expect: { stdout_matches: `^${literalPattern(t.version.expect)}$` }, ...(t.required ? {} : { severity: 'warning' }) }));
    }
    head.push(...t.extraChecks);
  }
  const fileChecks = (config: boolean): CheckDef[] =>
    p.files
      .filter((f) => f.config === config)
      .flatMap((f) => {
        if (!f.check) return [...f.extraChecks];
        const exec = f.mode !== undefined && (parseInt(f.mode, 8) & 0o111) !== 0;
        const c = parse({
          id: f.check.id,
          description: f.check.description ?? `${f.path} ${exec ? 'is executable' : 'exists'}`,
          group: f.check.group,
          type: 'file',
          path: f.path,
          ...(exec ? { expect: { executable: true } } : {}),
          ...(f.check.severity === 'warning' ? { severity: 'warning' } : {}),
        });
        return [c, ...f.extraChecks];
      });
  head.push(...fileChecks(true));
  for (const u of p.services) {
    const stem = u.replace(/\.[a-z]+$/, '').toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
    const kind = u.slice(u.lastIndexOf('.') + 1);
    head.push(
      // Enabled is a warning (the spec's log_warning); not running after boot is an error.
      parse({ id: `${stem}-${kind}-enabled`, description: `${u} is enabled`, group: g, type: 'service', unit: u, expect: { enabled: true }, severity: 'warning' }),
      parse({ id: `${stem}-${kind}-active`, description: `${u} is active after boot`, group: g, type: 'service', unit: u, expect: { active: true }, retry: { timeout_s: 20, interval_s: 2 } }),
    );
  }
  for (const m of filesystems) {
    head.push(parse({ id: fid('mount-rw', m.filesystem!), description: `mount -t ${m.filesystem}, write a file, read it back and compare, unmount`, group: g, type: 'mount', fstype: m.filesystem, source: 'none', needs: [mid('module-load', m.name)] }));
  }
  head.push(...fileChecks(false));
  // Unload in reverse order: a module another one uses goes last.
  const tail = [...p.modules].reverse().map((m) => parse({ id: mid('module-unload', m.name), description: `rmmod ${m.name}`, group: g, type: 'kernel-module', module: m.name, action: 'unload', needs: [mid('module-load', m.name)] }));
  return { head, tail };
}
