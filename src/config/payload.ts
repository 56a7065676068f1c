// Resolves `payload:` (plus --build-command, --build-subdir, --module) into the plan's Payload,
// refusing before any VM boots what can be known to be wrong: module names with a slash, paths
// that climb out, two artifacts with one install path, a build directory outside the source.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, posix, relative } from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_BUILD_COMMAND, VEXFS_FILES, VEXFS_MODULES, VEXFS_SERVICES, VEXFS_TOOLS } from './payload-defaults.js';
import { MODULE_NAME_RE, type FileConfig, type PayloadConfig } from './payload-schema.js';
import type { Payload, PayloadFile, PayloadModule, PayloadTool } from './payload-types.js';

export interface PayloadFlags {
  buildCommand?: string;
  /** Where the build runs, relative to the source root. */
  buildSubdir?: string;
  /** Module names (repeatable): replaces the declared list, keeping a declared entry's settings. */
  modules?: readonly string[];
}

/** True when a relative path has a ".." segment or is absolute (it would leave its root). */
function climbs(p: string): boolean {
  return isAbsolute(p) || p.split(/[\\/]+/).includes('..');
}

function relPath(p: string, what: string): string {
  if (climbs(p)) throw new UsageError(`${what} ${JSON.stringify(p)} leaves its directory: give a relative path without ".."`);
  return posix.normalize(p.replace(/\\/g, '/'));
}

function imagePath(p: string, what: string): string {
  if (!p.startsWith('/') || p.split('/').includes('..')) throw new UsageError(`${what} ${JSON.stringify(p)} must be an absolute path in the image without ".."`);
  return posix.normalize(p);
}

/** A directory of the source tree, symlinks resolved, that must stay inside it. */
function insideSource(sourceDir: string, rel: string, what: string): string {
  if (climbs(rel)) throw new UsageError(`${what} ${JSON.stringify(rel)} is outside the source tree ${sourceDir}: give a directory relative to it, without ".."`);
  const abs = join(sourceDir, rel);
  if (!existsSync(abs)) throw new UsageError(`${what} ${JSON.stringify(rel)} does not exist in the source tree ${sourceDir}`);
  const real = realpathSync(abs);
  const r = relative(realpathSync(sourceDir), real);
  if (r.startsWith('..') || isAbsolute(r)) throw new UsageError(`${what} ${JSON.stringify(rel)} resolves to ${real}, outside the source tree ${sourceDir}`);
  return abs;
}

function checkModuleName(name: string, from: string): string {
  if (!MODULE_NAME_RE.test(name)) throw new UsageError(`invalid module name ${JSON.stringify(name)} (from ${from}): letters, digits, "_" and "-" only, no "/"`);
  return name;
}

function resolveModules(cfg: PayloadConfig | undefined, flagged: readonly string[] | undefined): PayloadModule[] | undefined {
  const declared = cfg?.modules;
  if (!declared && !flagged?.length) return undefined;
  for (const [i, m] of (declared ?? []).entries()) if (declared!.findIndex((x) => x.name === m.name) !== i) throw new UsageError(`module ${m.name} is declared twice`);
  for (const [i, n] of (flagged ?? []).entries()) if (flagged!.indexOf(n) !== i) throw new UsageError(`module ${n} is given twice (--module)`);
  const byName = new Map((declared ?? VEXFS_MODULES.map((m) => ({ name: m.name, path: m.path, install_dir: m.installDir, filesystem: m.filesystem }))).map((m) => [m.name, m]));
  const list = flagged?.length ? flagged.map((n) => byName.get(checkModuleName(n, '--module')) ?? { name: n }) : [...byName.values()];
  return list.map((m) => ({
    name: m.name,
    path: relPath(m.path ?? `**/${m.name}.ko`, `modules.${m.name}.path`),
    installDir: relPath(m.install_dir ?? `extra/${m.name}`, `modules.${m.name}.install_dir`).replace(/\/+$/, ''),
    ...(m.filesystem ? { filesystem: m.filesystem } : {}),
  }));
}

function userFile(sourceDir: string, path: string, f: FileConfig, fallback: PayloadFile | undefined): PayloadFile {
  const from = f.from !== undefined ? join(sourceDir, relPath(f.from, `files."${path}".from`)) : undefined;
  if (from !== undefined && (!existsSync(from) || !statSync(from).isFile())) throw new UsageError(`files."${path}".from: ${from} is not a file of the source tree`);
  const mode = f.mode ? f.mode.padStart(4, '0') : (fallback?.mode ?? '0644');
  const base = basename(path).replace(/[^a-z0-9_.-]+/gi, '-').toLowerCase();
  const check =
    f.check === false
      ? false
      : { id: f.check?.id ?? (fallback?.check ? fallback.check.id : `file-${base}`), group: f.check?.group ?? (fallback?.check ? fallback.check.group : 'files'), severity: f.check?.severity ?? (fallback?.check ? fallback.check.severity : 'error'), ...(f.check?.description ? { description: f.check.description } : {}) };
  return {
    path,
    ...(from !== undefined ? { from } : { content: f.content ?? '' }),
    template: f.template ?? (from?.endsWith('.tmpl') ?? false),
    mode,
    config: fallback?.config ?? path.startsWith('/etc/'),
    check,
    // The default's extra checks test the default's content: a replacement drops them.
    extraChecks: [],
  };
}

function resolveFiles(sourceDir: string, cfg: PayloadConfig | undefined, defaults: readonly PayloadFile[]): PayloadFile[] {
  const out = new Map(defaults.map((f) => [f.path, f]));
  for (const [raw, f] of Object.entries(cfg?.files ?? {})) {
    const path = imagePath(raw, 'files: path');
    if (f === null) out.delete(path);
    else out.set(path, userFile(sourceDir, path, f, out.get(path)));
  }
  return [...out.values()];
}

function resolveTools(cfg: PayloadConfig | undefined, defaults: readonly PayloadTool[]): PayloadTool[] {
  if (!cfg?.tools) return [...defaults];
  return cfg.tools.map((t) => ({
    name: t.name,
    path: relPath(t.path ?? `**/${t.name}`, `tools.${t.name}.path`),
    installPath: imagePath(t.install_path ?? `/usr/local/bin/${t.name}`, `tools.${t.name}.install_path`),
    ...(t.version ? { version: t.version } : {}),
    required: t.required,
    extraChecks: [],
  }));
}

/** Two artifacts with one install path, or two modules or tools of one name. */
function assertDistinct(p: Payload): void {
  const seen = new Map<string, string>();
  const claim = (path: string, what: string): void => {
    const prev = seen.get(path);
    if (prev) throw new UsageError(`${what} and ${prev} both install to ${path}: give each its own install path`);
    seen.set(path, what);
  };
  const names = new Set<string>();
  for (const m of p.modules) {
    if (names.has(m.name)) throw new UsageError(`module ${m.name} is declared twice`);
    names.add(m.name);
    claim(`/lib/modules/<kernel>/${m.installDir}/${m.name}.ko`, `module ${m.name}`);
  }
  const tools = new Set<string>();
  for (const t of p.tools) {
    if (tools.has(t.name)) throw new UsageError(`tool ${t.name} is declared twice`);
    tools.add(t.name);
    claim(t.installPath, `tool ${t.name}`);
  }
  for (const f of p.files) claim(f.path, `file ${f.path}`);
}

export function resolvePayload(sourceDir: string, cfg: PayloadConfig | undefined, legacyBuildCommand: string | undefined, flags: PayloadFlags = {}): Payload {
  const declared = resolveModules(cfg, flags.modules);
  const vexfs = declared === undefined;
  const modules = declared ?? VEXFS_MODULES.map((m) => ({ ...m }));
  const buildDirectory = posix.normalize((flags.buildSubdir ?? cfg?.build?.directory ?? '.').replace(/\\/g, '/')).replace(/\/+$/, '') || '.';
  insideSource(sourceDir, buildDirectory, flags.buildSubdir !== undefined ? '--build-subdir' : 'payload.build.directory');
  const pick = (...v: Array<string | undefined>): string => v.find((x) => x !== undefined && x.trim() !== '') ?? DEFAULT_BUILD_COMMAND;
  if (flags.buildCommand !== undefined && flags.buildCommand.trim() === '') throw new UsageError('--build-command is empty: give the command that builds the module, e.g. --build-command "make modules"');
  if (flags.buildCommand !== undefined && /[\t\n\r]/.test(flags.buildCommand)) throw new UsageError('--build-command must be one line without tabs');
  const payload: Payload = {
    group: modules[0]!.name,
    buildDirectory,
    buildCommand: pick(flags.buildCommand, cfg?.build?.command, legacyBuildCommand),
    env: Object.freeze({ ...(cfg?.build?.env ?? {}) }),
    ...(cfg?.install_command ? { installCommand: cfg.install_command } : {}),
    modules: Object.freeze(modules),
    tools: Object.freeze(resolveTools(cfg, vexfs ? VEXFS_TOOLS : [])),
    files: Object.freeze(resolveFiles(sourceDir, cfg, vexfs ? VEXFS_FILES : [])),
    services: Object.freeze([...(cfg?.services ?? (vexfs ? VEXFS_SERVICES : []))]),
  };
  assertDistinct(payload);
  return Object.freeze(payload);
}

/** The payload of examples/vexfs with no config (the built-in check list is derived from it). */
export const DEFAULT_PAYLOAD: Payload = Object.freeze({
  group: 'vexfs',
  buildDirectory: '.',
  buildCommand: DEFAULT_BUILD_COMMAND,
  env: Object.freeze({}),
  modules: VEXFS_MODULES,
  tools: VEXFS_TOOLS,
  files: VEXFS_FILES,
  services: VEXFS_SERVICES,
});
