// Validation under a `secureboot` profile: the image's module certificate (its sidecar manifest
// names the published NAME.signing.crt) found before anything boots, and the checks that only
// make sense there: Secure Boot on, the kernel locked down, each module loading with its
// signature verified, and a copy of each module with the signature cut off refused by insmod.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckSchema, type CheckDef } from '../config/schema.js';
import { UsageError } from '../errors.js';
import type { VmProfile } from '../tools/qemu.js';
import { imageNames, type ImageTarget } from './discover.js';

const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c';
/**
 * What Linux logs when it refuses a module without a valid signature (kernel/module/signing.c):
 * with signatures enforced (Debian's kernel under Secure Boot; measured with 6.12, insmod then
 * fails with "Key was rejected by service") or by lockdown alone ("Operation not permitted").
 */
export const UNSIGNED_REFUSALS = ['Loading of unsigned module is rejected', 'Lockdown: insmod: unsigned module loading is restricted'] as const;
const REFUSAL_RE = UNSIGNED_REFUSALS.join('|');

/** The module-signing certificate published beside an image, named by its manifest. */
export function imageSigningCertificate(imagePath: string): string {
  const { stem } = imageNames(imagePath);
  const manifest = join(dirname(imagePath), `${stem}.json`);
  let name: unknown;
  try {
    name = (JSON.parse(readFileSync(manifest, 'utf8')) as { supply?: { signing?: { certificate?: { name?: unknown } } } }).supply?.signing?.certificate?.name;
  } catch {
    throw new UsageError(`${imagePath}: a secureboot profile enrols the image's module-signing certificate, but its manifest ${manifest} cannot be read`, {
      hint: 'validate the image where its build put it (beside its .json and .signing.crt), or use secureboot=nomok',
    });
  }
  if (typeof name !== 'string' || !name || name.includes('/')) {
    throw new UsageError(`${imagePath}: its manifest names no module-signing certificate (built without signing:), so there is nothing to enrol for Secure Boot`, {
      hint: 'build with signing: in vexfs-image.yaml (docs/supply-chain.md), or use secureboot=nomok',
    });
  }
  const cert = join(dirname(imagePath), name);
  if (!existsSync(cert)) throw new UsageError(`${imagePath}: its module-signing certificate ${cert} (named by ${manifest}) does not exist`);
  return cert;
}

/** The row's profile with the image's certificate to enrol (secureboot with mok), judged before any VM starts. */
export function profileForImage(profile: VmProfile, target: ImageTarget): VmProfile {
  if (profile.secureBoot !== 'mok' || !profile.uefi) return profile;
  return { ...profile, uefi: { ...profile.uefi, mokCertificates: [imageSigningCertificate(target.path)] } };
}

/** Cuts the appended PKCS#7 signature off a module (struct module_signature: 12 bytes, sig_len big-endian last). */
function stripAndInsmod(module: string): string {
  return [
    'set -u',
    `f="$(modinfo -n ${module})" || exit 1`,
    't="$(mktemp -d)"; trap \'rm -rf "$t"\' EXIT',
    `[ "$(tail -c 28 "$f")" = '~Module signature appended~' ] || { echo "$f carries no appended signature"; exit 1; }`,
    'len=$(tail -c 32 "$f" | head -c 4 | od -An -t u1 | awk \'{print $1*16777216 + $2*65536 + $3*256 + $4}\')',
    `head -c $(( $(stat -c %s "$f") - 28 - 12 - len )) "$f" > "$t/${module}.ko"`,
    `if grep -qa '~Module signature appended~' "$t/${module}.ko"; then echo 'the signature was not cut off'; exit 1; fi`,
    // Loaded already, insmod would fail with "File exists" whatever the signature.
    `if grep -q '^${module} ' /proc/modules; then rmmod ${module} || exit 1; fi`,
    `n0=$(dmesg | grep -cE '${REFUSAL_RE}')`,
    `if out="$(insmod "$t/${module}.ko" 2>&1)"; then rmmod ${module}; echo "the unsigned copy of ${module} was loaded"; exit 1; fi`,
    `n1=$(dmesg | grep -cE '${REFUSAL_RE}')`,
    `echo "insmod refused the unsigned copy: $out"`,
    `[ "$n1" -gt "$n0" ] || { echo "but the kernel logged neither '${UNSIGNED_REFUSALS.join("' nor '")}'"; exit 1; }`,
    `dmesg | grep -E '${REFUSAL_RE}' | tail -n 1`,
  ].join('\n');
}

/** The modules the check list loads (the payload's module-load checks). */
export function loadedModules(checks: readonly CheckDef[]): string[] {
  return [...new Set(checks.flatMap((c) => (c.type === 'kernel-module' && c.action === 'load' ? [c.module] : [])))];
}

/**
 * The Secure Boot checks, run last (after the payload's unload checks and the kernel-log check,
 * which would otherwise read the refusal as a kernel error).
 */
export function secureBootChecks(checks: readonly CheckDef[]): CheckDef[] {
  const g = 'secure-boot';
  const out: Array<Record<string, unknown>> = [
    {
      id: 'secure-boot-enabled',
      description: 'the firmware booted with Secure Boot on (the SecureBoot EFI variable is 1)',
      command: `v="$(od -An -t u1 -j4 -N1 /sys/firmware/efi/efivars/SecureBoot-${EFI_GLOBAL} | tr -d ' ')"; echo "SecureBoot=$v"; [ "$v" = 1 ]`,
    },
    {
      id: 'kernel-lockdown',
      description: 'the kernel is locked down (integrity or confidentiality), as Debian\'s kernel does under Secure Boot',
      command: 'cat /sys/kernel/security/lockdown',
      expect: { stdout_matches: '\\[(integrity|confidentiality)\\]' },
    },
  ];
  const modules = loadedModules(checks);
  const many = modules.length > 1;
  for (const m of modules) {
    out.push(
      {
        id: many ? `secure-boot-signed-load-${m}` : 'secure-boot-signed-load',
        description: `${m} loads under lockdown (its signature verified against an enrolled key) and unloads`,
        command: `if grep -q '^${m} ' /proc/modules; then rmmod ${m} || exit 1; fi\nmodprobe ${m} && grep -q '^${m} ' /proc/modules && rmmod ${m} && echo "${m}: loaded and unloaded under lockdown"`,
      },
      {
        id: many ? `secure-boot-unsigned-refused-${m}` : 'secure-boot-unsigned-refused',
        description: `a copy of ${m} with its signature cut off is refused by insmod, and the kernel says why`,
        command: stripAndInsmod(m),
      },
    );
  }
  return out.map((c) => CheckSchema.parse({ group: g, type: 'command', ...c }));
}
