// Resolves vexfs-image.yaml + environment + flags into one frozen, validated plan.
// Precedence: flags > env (VEXFS_VERSION, IMAGE_VARIANT) > file > defaults.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { parseImageFormats, type ImageFormat } from '../builder/formats.js';
import { UsageError } from '../errors.js';
import { defaultCacheDir, EXAMPLE_SOURCE } from '../paths.js';
import { checkVariantName, checkVersion, parseSize } from './names.js';
import { ConfigFileSchema, type CheckDef, type ConfigFile, type VariantDef } from './schema.js';
import { BUILTIN_VARIANTS, defaultBasePackages, DEFAULT_TOOLCHAIN_PACKAGES } from './variants.js';
import { assertBaseArch, DEBIAN_PRESETS } from '../base/presets.js';
import { archSpec, parseArch, type Arch } from '../arch.js';
import { assertArchHost } from '../tools/arch-host.js';
import { checkBaseSpec } from '../base/spec-check.js';
import { checkDirArg } from './dir-arg.js';
import { resolvePayload, type PayloadFlags } from './payload.js';
import type { Payload } from './payload-types.js';
import { builtinChecksFor } from '../validate/checks.js';
import { resolveSigning, type SigningPlan } from '../supply/signing.js';

export const CONFIG_FILE_NAME = 'vexfs-image.yaml';

export const DEFAULTS = Object.freeze({
  variant: 'production',
  version: '1.0.0',
  base: 'debian-13',
  outputDir: 'images',
  buildDir: 'build',
  diskSize: '10G',
  memoryMb: 2048,
  cpus: 2,
  timeoutS: 1800,
  buildCommand: 'make vm-build',
});

/** Options common to commands that read the config (everything optional: unset = not given). */
export interface ConfigFlags {
  config?: string;
  source?: string;
  variant?: string;
  version?: string;
  base?: string;
  outputDir?: string;
  buildDir?: string;
  diskSize?: string;
  memory?: number;
  cpus?: number;
  timeout?: number;
  cacheDir?: string;
  /** false: install packages with apt inside the build VM even when the base is built here. */
  preinstall?: boolean;
  /** The payload's per-run settings (--build-command, --build-subdir, --module). */
  payload?: PayloadFlags;
  /** --format: image formats besides qcow2 (raw, vhd, vmdk, gce), comma-separated or repeated. */
  formats?: readonly string[];
  /** --arch: the guest architecture (amd64, arm64). */
  arch?: string;
}

export interface LoadedConfig {
  sourceDir: string;
  configPath: string | undefined;
  file: ConfigFile;
  variants: Readonly<Record<string, VariantDef>>;
  /** The user's checks (vexfs-image.yaml `checks:`). */
  checks: readonly CheckDef[];
  /** What the project builds and installs (default: the VexFS layout). */
  payload: Payload;
  /** The built-in check list for this payload (derived checks around guest/checks/builtin.yaml). */
  baseChecks: readonly CheckDef[];
}

/** The keys an object schema allows at a path of the parsed data (for "unknown key" errors). */
function allowedKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[], data: unknown): string[] {
  type Def = { type: string; innerType?: z.core.$ZodType; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType; valueType?: z.core.$ZodType; options?: z.core.$ZodType[] };
  const defOf = (t: z.core.$ZodType): Def => t._zod.def as unknown as Def;
  let s: z.core.$ZodType | undefined = schema;
  let value = data;
  let i = 0;
  while (s) {
    const def = defOf(s);
    if (def.type === 'optional' || def.type === 'default' || def.type === 'prefault' || def.type === 'nullable') s = def.innerType;
    else if (def.type === 'union') {
      // A check: the variant whose `type` literal matches the data's.
      const type = (value as { type?: unknown } | undefined)?.type;
      s = def.options?.find((o) => (defOf(o).shape?.type?._zod.def as { values?: unknown[] } | undefined)?.values?.includes(type));
    } else if (i === path.length) return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
    else {
      const key = path[i++]!;
      value = (value as Record<PropertyKey, unknown> | undefined)?.[key];
      s = def.type === 'object' ? def.shape?.[String(key)] : def.type === 'array' ? def.element : def.type === 'record' ? def.valueType : undefined;
    }
  }
  return [];
}

function formatIssue(issue: z.core.$ZodIssue, data: unknown): string {
  const at = (path: readonly PropertyKey[]): string =>
    path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  const path = at(issue.path);
  const valueAt = (path: readonly PropertyKey[]): unknown => {
    let value: unknown = data;
    for (const p of path) value = (value as Record<PropertyKey, unknown> | undefined)?.[p];
    return value;
  };
  if (issue.code === 'unrecognized_keys') {
    // Name each unknown key with its value, and list what is allowed there.
    const keys = issue.keys.map((k) => `${at([...issue.path, k])} = ${JSON.stringify(valueAt([...issue.path, k]) ?? null)}`);
    return `unknown key ${keys.join(', ')}: allowed keys${path ? ` in ${path}` : ''} are ${allowedKeysAt(ConfigFileSchema, issue.path, data).join(', ')}`;
  }
  if (issue.code === 'invalid_key') {
    const why = issue.issues.map((i) => i.message).join('; ');
    return `${path}: invalid key ${JSON.stringify(issue.path[issue.path.length - 1])}: ${why}`;
  }
  return `${path || '(top level)'} = ${JSON.stringify(valueAt(issue.path))}: ${issue.message}`;
}

export function parseConfigText(text: string, where: string): ConfigFile {
  let data: unknown;
  try {
    data = parseYaml(text) ?? {};
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : String(e);
    throw new UsageError(`${where}: not valid YAML: ${msg}`);
  }
  const r = ConfigFileSchema.safeParse(data);
  if (!r.success) {
    const first = r.error.issues.map((i) => formatIssue(i, data));
    throw new UsageError(`${where}: ${first.join('; ')}`, { hint: 'see schema/vexfs-image.schema.json for the allowed keys' });
  }
  return r.data;
}

export function resolveSourceDir(flag: string | undefined, cwd = process.cwd()): string {
  const dir = flag ? resolve(cwd, flag) : EXAMPLE_SOURCE;
  if (!existsSync(dir)) throw new UsageError(`source directory ${dir} does not exist`, { hint: 'pass --source DIR pointing at a VexFS checkout' });
  if (!statSync(dir).isDirectory()) throw new UsageError(`source directory ${dir} is not a directory`, { hint: 'pass --source DIR pointing at a VexFS checkout' });
  return dir;
}

/** Larger than any real config; /dev/zero or a mistaken image would otherwise be read whole. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Reads a config file that must be a regular file of sane size (checked before reading). */
function readConfigFile(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new UsageError(`config file ${path} is not a regular file; pass --config a YAML file.`);
  if (st.size > MAX_CONFIG_BYTES) throw new UsageError(`config file ${path} is larger than 1 MiB; pass --config a vexfs-image.yaml.`);
  return readFileSync(path, 'utf8');
}

/** Check ids within one file must be unique (a repeated id would silently replace the first). */
function assertUniqueCheckIds(checks: readonly CheckDef[], where: string): void {
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.id)) throw new UsageError(`${where}: duplicate check id ${JSON.stringify(c.id)}; give each check its own id.`);
    seen.add(c.id);
  }
}

export function loadConfig(flags: Pick<ConfigFlags, 'config' | 'source' | 'payload'>, cwd = process.cwd()): LoadedConfig {
  const sourceDir = resolveSourceDir(flags.source, cwd);
  const configPath = flags.config ? resolve(cwd, flags.config) : join(sourceDir, CONFIG_FILE_NAME);
  let file: ConfigFile = {};
  if (existsSync(configPath)) file = parseConfigText(readConfigFile(configPath), configPath);
  else if (flags.config) throw new UsageError(`config file ${configPath} does not exist`);
  assertUniqueCheckIds(file.checks ?? [], configPath);
  const variants: Record<string, VariantDef> = { ...BUILTIN_VARIANTS, ...(file.variants ?? {}) };
  const payload = resolvePayload(sourceDir, file.payload, file.build_command, flags.payload);
  return Object.freeze({
    sourceDir,
    configPath: existsSync(configPath) ? configPath : undefined,
    file,
    variants: Object.freeze(variants),
    checks: Object.freeze(file.checks ?? []),
    payload,
    baseChecks: Object.freeze(builtinChecksFor(payload, undefined, { signed: Boolean(file.signing) })),
  });
}

export interface BuildPlan {
  /** The guest architecture: the base, the build VM and the image's file names (src/arch.ts). */
  arch: Arch;
  variantName: string;
  variant: VariantDef;
  version: string;
  sourceDir: string;
  base: string;
  outputDir: string;
  buildDir: string;
  diskSizeBytes: number;
  memoryMb: number;
  cpus: number;
  timeoutS: number;
  /** The payload's build command (payload.buildCommand; kept for the messages that name it). */
  buildCommand: string;
  payload: Payload;
  basePackages: readonly string[];
  /**
   * Packages baked into the base when it is built here from Debian packages (native speed on the
   * host instead of apt under emulation); empty when the guest installs them with apt.
   */
  preinstall: readonly string[];
  /** Purged after the build by variants without keep_toolchain (dpkg-query patterns). */
  toolchainPackages: readonly string[];
  cacheDir: string;
  noCleanup: boolean;
  force: boolean;
  /** Start from the cached image of the last build with the same inputs but the source (builder/incremental/); false: always a full build. */
  incremental: boolean;
  /** Resume a cached snapshot of the booted build VM instead of booting it (builder/warm-start.ts); false: boot cold. */
  snapshot: boolean;
  /** What finalise writes: qcow2 always, first (builder/formats.ts). */
  formats: readonly ImageFormat[];
  /** The config file read, if any (an input of the build: builder/inputs.ts). */
  configPath?: string;
  /** `signing:` judged (key, certificate, passphrase) before anything starts (supply/signing.ts). */
  signing?: SigningPlan;
}

export interface BuildFlags extends ConfigFlags {
  noCleanup?: boolean;
  force?: boolean;
  incremental?: boolean;
  snapshot?: boolean;
}

function pick<T>(...values: Array<T | undefined>): T {
  for (const v of values) if (v !== undefined && v !== '') return v;
  throw new Error('pick: no default');
}

export function resolveVariant(cfg: LoadedConfig, name: string, from: string): VariantDef {
  checkVariantName(name, from);
  const v = cfg.variants[name];
  if (!v) {
    throw new UsageError(`unknown variant ${JSON.stringify(name)} (from ${from}): known variants are ${Object.keys(cfg.variants).join(', ')}`, {
      hint: `define it under "variants:" in ${CONFIG_FILE_NAME}`,
    });
  }
  return v;
}

export function resolveBuildPlan(flags: BuildFlags, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Readonly<BuildPlan> {
  const cfg = loadConfig(flags, cwd);
  const f = cfg.file;
  // An explicit empty flag (--variant "") is an error, not "use the default" (pick skips '').
  if (flags.variant === '') checkVariantName('', '--variant');
  if (flags.version === '') checkVersion('', '--version');
  const variantFrom = flags.variant !== undefined ? '--variant' : env.IMAGE_VARIANT ? 'IMAGE_VARIANT' : f.variant ? CONFIG_FILE_NAME : 'default';
  const variantName = pick(flags.variant, env.IMAGE_VARIANT, f.variant, DEFAULTS.variant);
  const versionFrom = flags.version !== undefined ? '--version' : env.VEXFS_VERSION ? 'VEXFS_VERSION' : f.version ? CONFIG_FILE_NAME : 'default';
  const version = checkVersion(pick(flags.version, env.VEXFS_VERSION, f.version, DEFAULTS.version), versionFrom);
  const variant = resolveVariant(cfg, variantName, variantFrom);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));
  const memoryMb = pick(flags.memory, f.memory, DEFAULTS.memoryMb);
  const cpus = pick(flags.cpus, f.cpus, DEFAULTS.cpus);
  const timeoutS = pick(flags.timeout, f.timeout, DEFAULTS.timeoutS);
  if (!Number.isInteger(memoryMb) || memoryMb < 512) throw new UsageError(`invalid --memory ${memoryMb}: at least 512 (MiB)`);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS) throw new UsageError(`invalid --cpus ${cpus}: a whole number from 1 to ${MAX_CPUS}`);
  if (memoryMb > hostMemoryMb()) throw new UsageError(`invalid --memory ${memoryMb}: more than this host has (${hostMemoryMb()} MiB)`);
  if (!Number.isInteger(timeoutS) || timeoutS < 1) throw new UsageError(`invalid --timeout ${timeoutS}: a whole number of seconds`);
  const diskSizeBytes = parseSize(pick(flags.diskSize, f.disk_size, DEFAULTS.diskSize));
  if (diskSizeBytes < 2 * 2 ** 30) throw new UsageError('invalid --disk-size: at least 2G');
  const base = pick(flags.base, f.base, DEFAULTS.base);
  const arch = parseArch(flags.arch ?? f.arch, flags.arch !== undefined ? '--arch' : `arch in ${CONFIG_FILE_NAME}`);
  // The base, the directories and the cache are checked here, before a build writes anything.
  checkBaseSpec(base, { cwd, ubuntuMirror: env.VEXFS_IMAGE_UBUNTU_MIRROR });
  assertBaseArch(base, arch);
  // A foreign architecture's emulator and firmware (and qemu-user for a Debian base): exit 2 naming the packages.
  assertArchHost(arch, isDebianPreset(base) ? ['vm', 'base'] : ['vm'], env);
  const dirs = {
    outputDir: checkDirArg(pick(flags.outputDir, f.output_dir, DEFAULTS.outputDir), flags.outputDir !== undefined ? '--output-dir' : 'output_dir', cwd),
    buildDir: checkDirArg(pick(flags.buildDir, f.build_dir, DEFAULTS.buildDir), flags.buildDir !== undefined ? '--build-dir' : 'build_dir', cwd),
    cacheDir: checkDirArg(flags.cacheDir ? abs(flags.cacheDir) : defaultCacheDir(env), flags.cacheDir ? '--cache-dir' : 'the cache directory', cwd),
  };
  const formats = Object.freeze(flags.formats !== undefined ? parseImageFormats(flags.formats) : parseImageFormats(f.formats, `formats in ${CONFIG_FILE_NAME}`));
  const basePackages = Object.freeze([...(f.base_packages ?? defaultBasePackages(arch))]);
  const preinstall = pick(flags.preinstall, f.preinstall_packages, true) && isDebianPreset(base);
  const signing = resolveSigning(f.signing, cfg.configPath ? dirname(cfg.configPath) : cfg.sourceDir, env);
  return Object.freeze({
    arch,
    variantName,
    variant,
    version,
    sourceDir: cfg.sourceDir,
    base,
    outputDir: dirs.outputDir,
    buildDir: dirs.buildDir,
    diskSizeBytes,
    memoryMb,
    cpus,
    timeoutS,
    buildCommand: cfg.payload.buildCommand,
    payload: cfg.payload,
    basePackages,
    // A signed image's base also carries the Secure Boot chain (Debian's shim and signed GRUB,
    // put on its ESP: base/secure-boot-esp.ts); an unsigned module cannot load under Secure Boot,
    // so other images keep the plain GRUB ESP and ~10 MiB less.
    preinstall: Object.freeze(preinstall ? [...new Set([...basePackages, ...variant.packages, ...(signing ? archSpec(arch).secureBootPackages : [])])] : []),
    toolchainPackages: Object.freeze([...(f.toolchain_packages ?? DEFAULT_TOOLCHAIN_PACKAGES)]),
    cacheDir: dirs.cacheDir,
    noCleanup: flags.noCleanup ?? false,
    force: flags.force ?? false,
    incremental: flags.incremental ?? true,
    snapshot: flags.snapshot ?? true,
    formats,
    configPath: cfg.configPath,
    ...(signing ? { signing: Object.freeze(signing) } : {}),
  });
}

/** QEMU's q35 machine takes up to 288 vCPUs, but TCG gains nothing past the host's cores: the
 * config schema's limit, for the flag too. */
export const MAX_CPUS = 64;

function hostMemoryMb(): number {
  return Math.floor(totalmem() / 2 ** 20);
}

/** A base vexfs-image builds itself from Debian packages (and so can build with packages in it). */
function isDebianPreset(base: string): boolean {
  return Object.hasOwn(DEBIAN_PRESETS, base);
}
