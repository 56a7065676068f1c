// The vexfs-image.yaml schema: single source of truth. Types are inferred from it and the
// published JSON Schema (schema/vexfs-image.schema.json) is generated from it.
import { z } from 'zod';
import { VARIANT_RE, VERSION_RE } from './names.js';

export const VariantSchema = z
  .object({
    description: z.string().optional(),
    /** Extra Debian packages installed for this variant, on top of the base packages. */
    packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'a Debian package name')).default([]),
    /** Keep the build toolchain (compilers, headers) in the final image. */
    keep_toolchain: z.boolean().default(false),
    /** Drop documentation, man pages and caches for the smallest image. */
    slim: z.boolean().default(false),
    /** Production hardening: no password SSH, no root login, sysctls, security upgrades. */
    hardening: z.boolean().default(false),
  })
  .strict();

export const CheckSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/),
    description: z.string().optional(),
    type: z.enum(['command', 'file', 'service', 'kernel-module', 'mount', 'sysctl']),
    group: z.string().optional(),
    command: z.string().optional(),
    path: z.string().optional(),
    unit: z.string().optional(),
    module: z.string().optional(),
    key: z.string().optional(),
    expect: z
      .object({
        exit_code: z.number().int().optional(),
        stdout_contains: z.string().optional(),
        stdout_matches: z.string().optional(),
        stdout_empty: z.boolean().optional(),
        value: z.string().optional(),
        executable: z.boolean().optional(),
        contains: z.string().optional(),
        enabled: z.boolean().optional(),
        active: z.boolean().optional(),
        loaded: z.boolean().optional(),
      })
      .strict()
      .default({}),
    needs: z.array(z.string()).default([]),
    retry: z.object({ timeout_s: z.number().positive(), interval_s: z.number().positive().default(2) }).strict().optional(),
    severity: z.enum(['error', 'warning']).default('error'),
    variants: z.array(z.string()).optional(),
    sudo: z.boolean().default(true),
  })
  .strict();

export const ConfigFileSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.string().regex(VERSION_RE).optional(),
    variant: z.string().regex(VARIANT_RE).optional(),
    base: z.string().optional(),
    output_dir: z.string().optional(),
    build_dir: z.string().optional(),
    disk_size: z.string().optional(),
    memory: z.number().int().min(512).optional(),
    cpus: z.number().int().min(1).max(64).optional(),
    timeout: z.number().int().positive().optional(),
    build_command: z.string().optional(),
    /** Packages every variant installs (build toolchain and kernel headers). */
    base_packages: z.array(z.string()).optional(),
    variants: z.record(z.string().regex(VARIANT_RE), VariantSchema).optional(),
    checks: z.array(CheckSchema).optional(),
  })
  .strict();

export type ConfigFile = z.infer<typeof ConfigFileSchema>;
export type VariantDef = z.infer<typeof VariantSchema>;
export type CheckDef = z.infer<typeof CheckSchema>;
