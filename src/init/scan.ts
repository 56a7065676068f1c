// Reads a source tree for `vexfs-image init`: kernel modules from obj-m lines of Kbuild files
// and Makefiles (with the filesystem type a module's C sources register), the root Makefile's
// targets, and Cargo [[bin]] targets. Pure reading; nothing is built or run.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { parse as parseToml } from 'smol-toml';

export interface FoundModule {
  name: string;
  /** Directory of the Kbuild/Makefile naming it, relative to the root ('.' for the root). */
  dir: string;
  /** The file that names it. */
  from: string;
  filesystem?: string;
}

export interface FoundBin {
  name: string;
  /** The Cargo.toml declaring it, relative to the root. */
  from: string;
}

export interface TreeScan {
  modules: FoundModule[];
  /** Targets of the root Makefile, in file order. */
  makeTargets: string[];
  bins: FoundBin[];
  /** The VERSION file's first line, if any. */
  version?: string;
}

// Build output, VCS and dependency trees: never where a project declares its modules.
const SKIP = new Set(['.git', 'target', 'node_modules', 'build', '.tmp_versions', 'debian']);
const MAX_FILES = 5000;

function walk(root: string): string[] {
  const out: string[] = [];
  const stack = [root];
  while (stack.length && out.length < MAX_FILES) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) {
        if (!SKIP.has(e.name) && !e.name.startsWith('.')) stack.push(join(dir, e.name));
      } else if (e.isFile()) out.push(join(dir, e.name));
    }
  }
  return out.sort();
}

const KBUILD_NAMES = /^(Kbuild|Makefile|GNUmakefile|makefile)$|\.mk$/;

/** Module names of `obj-m := a.o b.o` / `obj-m += c.o` lines (line continuations joined). */
export function objMModules(text: string): string[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  const names: string[] = [];
  for (const m of joined.matchAll(/^\s*obj-m\s*[:+?]?=\s*(.*)$/gm)) {
    for (const w of m[1]!.replace(/#.*$/, '').split(/\s+/)) {
      const n = /^([A-Za-z0-9_-]+)\.o$/.exec(w);
      if (n && !names.includes(n[1]!)) names.push(n[1]!);
    }
  }
  return names;
}

/** The `.name` of a `struct file_system_type` initialiser in C source. */
export function filesystemName(c: string): string | undefined {
  return /struct\s+file_system_type\s+\w+\s*=\s*\{[^}]*?\.name\s*=\s*"([A-Za-z0-9_.-]+)"/s.exec(c)?.[1];
}

/** Explicit targets of a Makefile (not pattern rules, special targets or variable assignments). */
export function makeTargets(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^([A-Za-z0-9_][A-Za-z0-9_.\- ]*?)\s*::?(?![=:])/gm)) {
    for (const t of m[1]!.split(/\s+/)) if (t && !t.startsWith('.') && !out.includes(t)) out.push(t);
  }
  return out;
}

/** [[bin]] names of a Cargo.toml, or the package's own name when it has src/main.rs. */
export function cargoBins(text: string, dir: string): string[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch {
    return [];
  }
  const bins = (doc.bin as Array<{ name?: unknown }> | undefined)?.map((b) => b.name).filter((n): n is string => typeof n === 'string') ?? [];
  const pkg = (doc.package as { name?: unknown } | undefined)?.name;
  if (!bins.length && typeof pkg === 'string' && existsSync(join(dir, 'src', 'main.rs'))) bins.push(pkg);
  return bins;
}

export function scanTree(root: string): TreeScan {
  const files = walk(root);
  const modules: FoundModule[] = [];
  const bins: FoundBin[] = [];
  for (const f of files) {
    const rel = relative(root, f);
    const name = basename(f);
    if (KBUILD_NAMES.test(name)) {
      for (const m of objMModules(readFileSync(f, 'utf8'))) {
        if (modules.some((x) => x.name === m)) continue;
        const dir = dirname(f);
        // The module's own source first, else any C file next to it.
        const sources = [join(dir, `${m}.c`), ...files.filter((x) => dirname(x) === dir && x.endsWith('.c'))];
        const fs = sources.filter((s) => existsSync(s)).map((s) => filesystemName(readFileSync(s, 'utf8'))).find(Boolean);
        modules.push({ name: m, dir: relative(root, dir) || '.', from: rel, ...(fs ? { filesystem: fs } : {}) });
      }
    } else if (name === 'Cargo.toml') {
      for (const b of cargoBins(readFileSync(f, 'utf8'), dirname(f))) if (!bins.some((x) => x.name === b)) bins.push({ name: b, from: rel });
    }
  }
  const rootMake = ['GNUmakefile', 'makefile', 'Makefile'].map((n) => join(root, n)).find((p) => existsSync(p) && statSync(p).isFile());
  const versionFile = join(root, 'VERSION');
  const version = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').split('\n')[0]!.trim() : undefined;
  return { modules, makeTargets: rootMake ? makeTargets(readFileSync(rootMake, 'utf8')) : [], bins, ...(version ? { version } : {}) };
}
