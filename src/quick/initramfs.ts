// The quick test's initramfs: a static busybox (applets as symlinks), guest/quick/init.sh as
// /init, the freshly built modules and tools (with the shared libraries they need, copied from
// the image's root), and /quick.env saying what to check. Made in memory on every run (~1 MB).
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { GUEST_DIR } from '../paths.js';
import { initramfs, type CpioEntry } from '../tools/cpio.js';
import { run } from '../tools/exec.js';
import type { BuiltPayload } from './compile.js';

/** POSIX-shell single quoting. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** /quick.env: the modules in load order, each one's filesystem, the tools' version checks. */
export function quickEnv(built: Pick<BuiltPayload, 'modules' | 'tools'>, version: string): string {
  const lines = [`EXPECT_VERSION=${shQuote(version)}`, `MODULES=${shQuote(built.modules.map((m) => m.name).join(' '))}`];
  for (const m of built.modules) {
    if (!/^[A-Za-z0-9_]+$/.test(m.name)) throw new Error(`quick test: module name ${JSON.stringify(m.name)} is not a shell word`);
    if (m.filesystem) lines.push(`FS_${m.name}=${shQuote(m.filesystem)}`);
  }
  const tools = built.tools.filter((t) => t.versionCommand);
  tools.forEach((t, i) => lines.push(`TOOL_${i}_NAME=${shQuote(t.name)}`, `TOOL_${i}_CMD=${shQuote(t.versionCommand!)}`, `TOOL_${i}_EXPECT=${shQuote(t.expect ?? '')}`));
  lines.push(`TOOL_COUNT=${tools.length}`);
  return `${lines.join('\n')}\n`;
}

/** Every directory above the given archive paths, parents first. */
function parents(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) for (let d = dirname(p); d !== '.' && d !== '/'; d = dirname(d)) dirs.add(d);
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
}

export async function makeInitramfs(built: BuiltPayload, rootDir: string, version: string, busybox: string): Promise<Buffer> {
  const applets = (await run(busybox, ['--list'], { timeoutMs: 10_000 })).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  const files: CpioEntry[] = [
    { path: 'init', type: 'file', mode: 0o755, data: await readFile(join(GUEST_DIR, 'quick', 'init.sh')) },
    { path: 'quick.env', type: 'file', mode: 0o644, data: quickEnv(built, version) },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: await readFile(busybox) },
    ...applets.map((a): CpioEntry => ({ path: `bin/${a}`, type: 'symlink', data: 'busybox' })),
  ];
  for (const m of built.modules) files.push({ path: `modules/${m.name}.ko`, type: 'file', mode: 0o644, data: await readFile(m.file) });
  for (const t of built.tools) files.push({ path: `bin/${t.name}`, type: 'file', mode: 0o755, data: await readFile(t.file) });
  // A library at the path the tool's loader asks for (e.g. lib64/ld-linux-x86-64.so.2).
  for (const lib of built.libs) files.push({ path: relative(rootDir, lib), type: 'file', mode: 0o755, data: await readFile(lib) });
  const taken = new Set(files.map((f) => f.path));
  const base = ['proc', 'sys', 'dev', 'tmp', 'mnt', 'sbin', 'usr/bin'];
  const dirs = [...new Set([...base, ...parents([...taken, ...base])])].filter((d) => !taken.has(d)).sort((a, b) => a.split('/').length - b.split('/').length);
  return initramfs([...dirs.map((d): CpioEntry => ({ path: d, type: 'dir' })), ...files]);
}
