// The vexfs-image.yaml schema: single source of truth. Types are inferred from it and the
// published JSON Schema (schema/vexfs-image.schema.json) is generated from it.
import { z } from 'zod';
import { ARCHES } from '../arch.js';
import { VARIANT_RE, VERSION_RE } from './names.js';
import { DEBIAN_PACKAGE_RE, DPKG_PATTERN_RE, PACKAGE_NAME_RULE, PACKAGE_PATTERN_RULE } from './package-names.js';
import { PayloadSchema } from './payload-schema.js';

const PackageName = z.string().regex(DEBIAN_PACKAGE_RE, PACKAGE_NAME_RULE);

export const VariantSchema = z
  .object({
    description: z.string().optional(),
    /** Extra Debian packages installed for this variant, on top of the base packages. */
    packages: z.array(PackageName).default([]),
    /** Keep the build toolchain (compilers, headers) in the final image. */
    keep_toolchain: z.boolean().default(false),
    /** Drop documentation, man pages and caches for the smallest image. */
    slim: z.boolean().default(false),
    /** Production hardening: no password SSH, no root login, sysctls, security upgrades. */
    hardening: z.boolean().default(false),
  })
  .strict();

// Checks run in the guest by `vexfs-image validate` (src/validate/). A list, so order is explicit;
// `needs` may only name checks earlier in the list. Strings may use {{version}}, {{variant}} and
// {{name}} (the image's). See docs/checks.md and guest/checks/builtin.yaml.
const CheckCommon = {
  id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, ".", "_" and "-"'),
  description: z.string().optional(),
  /** Report grouping, e.g. "vexfs", "system", "security". */
  group: z.string().default('custom'),
  /** error: a failure fails the image (exit 1). warning: reported only. */
  severity: z.enum(['error', 'warning']).default('error'),
  /** Ids of earlier checks that must have passed; otherwise this one is skipped. */
  needs: z.array(z.string()).default([]),
  /** Re-run until it passes or timeout_s has passed since the first attempt. */
  retry: z.object({ timeout_s: z.number().positive(), interval_s: z.number().positive().default(2) }).strict().optional(),
  /** Deadline for one attempt (default: --ssh-timeout). */
  timeout_s: z.number().positive().optional(),
  /** Only for these variants (default: every variant). */
  variants: z.array(z.string()).min(1).optional(),
  /** Run as root through sudo (default) or as the validation user. */
  sudo: z.boolean().default(true),
};

export const CommandCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('command'),
    /** A bash script, run with `bash -c`. */
    command: z.string().min(1),
    expect: z
      .object({
        exit_code: z.number().int().default(0),
        stdout_contains: z.string().optional(),
        /** A JavaScript regular expression, multiline mode. */
        stdout_matches: z.string().optional(),
        stdout_not_matches: z.string().optional(),
        stdout_empty: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const FileCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('file'),
    path: z.string().min(1),
    expect: z
      .object({
        /** false: the path must not exist. */
        exists: z.boolean().default(true),
        executable: z.boolean().optional(),
        /** A fixed string the file must contain. */
        contains: z.string().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const ServiceCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('service'),
    unit: z.string().min(1),
    expect: z
      .object({ enabled: z.boolean().optional(), active: z.boolean().optional() })
      .strict()
      .refine((e) => e.enabled !== undefined || e.active !== undefined, 'give expect.enabled and/or expect.active'),
  })
  .strict();

export const KernelModuleCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('kernel-module'),
    module: z.string().regex(/^[A-Za-z0-9_-]+$/),
    /** Load (modprobe) or unload (rmmod) the module first. */
    action: z.enum(['load', 'unload']).optional(),
    expect: z
      .object({
        /** modinfo finds it. */
        available: z.boolean().optional(),
        /** Listed by lsmod. */
        loaded: z.boolean().optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export const MountCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('mount'),
    /** Mount, write a file, read it back and compare, unmount. */
    fstype: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    source: z.string().default('none'),
    /** Mount point (default: a fresh temporary directory). */
    target: z.string().optional(),
    options: z.string().optional(),
  })
  .strict();

export const SysctlCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('sysctl'),
    /** Each key's expected value (compared after collapsing whitespace). */
    values: z
      .record(z.string().regex(/^[A-Za-z0-9_./-]+$/, 'a sysctl key'), z.union([z.string(), z.number()]).transform(String))
      .refine((v) => Object.keys(v).length > 0, 'at least one key'),
  })
  .strict();

export const KernelLogCheckSchema = z
  .object({
    ...CheckCommon,
    type: z.literal('kernel-log'),
    /** Regular expressions (grep -E) that must not appear in the kernel log of this boot. */
    forbid: z.array(z.string()).default(['Oops', 'BUG:', 'WARNING:']),
    /** Taint flags (letters, see the kernel's tainted-kernels.rst) allowed to appear while the checks ran. */
    allow_taint: z.array(z.string().regex(/^[A-Z]$/)).default(['O']),
  })
  .strict();

export const CheckSchema = z.discriminatedUnion('type', [
  CommandCheckSchema,
  FileCheckSchema,
  ServiceCheckSchema,
  KernelModuleCheckSchema,
  MountCheckSchema,
  SysctlCheckSchema,
  KernelLogCheckSchema,
]);

export const ConfigFileSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.string().regex(VERSION_RE).optional(),
    variant: z.string().regex(VARIANT_RE).optional(),
    base: z.string().optional(),
    /** The guest architecture (like --arch; the flag wins): amd64 (default) or arm64. */
    arch: z.enum(ARCHES).optional(),
    output_dir: z.string().optional(),
    build_dir: z.string().optional(),
    disk_size: z.string().optional(),
    memory: z.number().int().min(512).optional(),
    cpus: z.number().int().min(1).max(64).optional(),
    timeout: z.number().int().positive().optional(),
    /** The build command (same as payload.build.command, which wins). */
    build_command: z.string().optional(),
    /** What the project builds and installs; absent: the VexFS layout of examples/vexfs. */
    payload: PayloadSchema.optional(),
    /** Packages every variant installs (build toolchain and kernel headers). */
    base_packages: z.array(PackageName).optional(),
    /**
     * Install base_packages and the variant's packages into a Debian base built here (mmdebstrap on
     * the host, cached per package set) instead of with apt inside the emulated build VM.
     */
    preinstall_packages: z.boolean().optional(),
    /** Image formats besides qcow2 that build and ci write (like --format; the flag wins). */
    formats: z.array(z.enum(['qcow2', 'raw', 'vhd', 'vmdk', 'gce'])).optional(),
    /**
     * Module signing with the image kernel's sign-file: key and certificate (PEM or DER, paths
     * relative to this file; an encrypted key takes its passphrase from KBUILD_SIGN_PIN), or
     * generate: true for a key made in the build VM for each build (only its certificate is published).
     */
    signing: z.object({ key: z.string().min(1).optional(), certificate: z.string().min(1).optional(), generate: z.boolean().optional() }).strict().optional(),
    /** The validation matrix of validate and ci, each like a --profile value, e.g. "uefi,nvme,512M" (the flags win). */
    profiles: z.array(z.string().min(1)).optional(),
    /** Packages (dpkg-query patterns) purged after the build unless the variant keeps the toolchain. */
    toolchain_packages: z.array(z.string().regex(DPKG_PATTERN_RE, PACKAGE_PATTERN_RULE)).optional(),
    variants: z.record(z.string().regex(VARIANT_RE, `a variant name matching ${VARIANT_RE.source}`), VariantSchema).optional(),
    checks: z.array(CheckSchema).optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigFileSchema>;
export type VariantDef = z.infer<typeof VariantSchema>;
export type CheckDef = z.infer<typeof CheckSchema>;
