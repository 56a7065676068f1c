// The quick test's build: the payload's build command, natively on the host, inside the image's
// own root (chroot: the image's compiler against the image's kernel headers, so the module is
// what the build VM would make). The source is synced into a work directory in that root that
// persists between runs, with the source's mtimes, so make and cargo rebuild only what changed.
// The chroot gets its own mount namespace (unshare) holding /proc and a few device nodes, which
// vanish with it; the build runs there as nobody, without network (runInRoot).
import { createHash } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Payload } from '../config/payload-types.js';
import { GUEST_DIR } from '../paths.js';
import { run } from '../tools/exec.js';
import { GuestError } from '../errors.js';
import { sourceExcluded } from '../builder/inputs.js';
import type { KernelRoot } from './root.js';

export interface BuiltPayload {
  /** Host paths, in the payload's module order. */
  modules: Array<{ name: string; file: string; filesystem?: string }>;
  tools: Array<{ name: string; file: string; versionCommand?: string; expect?: string }>;
  /** Shared libraries the tools need (host paths inside the root). */
  libs: string[];
  /** Payload entries whose glob matched nothing. */
  missing: string[];
  log: string;
}

/**
 * Makes dest mirror src's files (mode, content, mtime), copying only what changed and removing
 * what an earlier sync copied and src no longer has; build products in dest are left alone.
 */
export async function syncTree(src: string, dest: string): Promise<{ copied: number }> {
  const listPath = join(dest, '.quick-synced.json');
  const previous = new Set<string>(JSON.parse(await readFile(listPath, 'utf8').catch(() => '[]')) as string[]);
  const now: string[] = [];
  let copied = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(src, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (sourceExcluded(r)) continue;
      const s = await lstat(join(src, r));
      if (s.isDirectory()) {
        await mkdir(join(dest, r), { recursive: true });
        await walk(r);
      } else if (s.isFile()) {
        now.push(r);
        const d = await lstat(join(dest, r)).catch(() => undefined);
        // rsync's quick check (size and mtime), to the millisecond: utimes rounds what it is given.
        if (!d || d.size !== s.size || Math.abs(d.mtimeMs - s.mtimeMs) >= 1 || d.mode !== s.mode) {
          await rm(join(dest, r), { force: true });
          await copyFile(join(src, r), join(dest, r));
          await utimes(join(dest, r), s.atimeMs / 1000, s.mtimeMs / 1000);
          copied++;
        }
      }
    }
  };
  await mkdir(dest, { recursive: true });
  await walk('');
  for (const r of previous) if (!now.includes(r)) await rm(join(dest, r), { force: true });
  await writeFile(listPath, JSON.stringify(now));
  return { copied };
}

/** The build.sh spec: one `module|tool NAME GLOB` line per payload entry. */
export function buildSpec(payload: Pick<Payload, 'modules' | 'tools'>): string {
  const safe = (s: string): string => {
    if (/\s/.test(s)) throw new Error(`quick test: a payload name or glob with white space: ${JSON.stringify(s)}`);
    return s;
  };
  return [...payload.modules.map((m) => `module ${safe(m.name)} ${safe(m.path)}`), ...payload.tools.map((t) => `tool ${safe(t.name)} ${safe(t.path)}`)].join('\n');
}

/** Parses build.sh's report lines; paths are inside the root. */
export function parseBuildReport(out: string): { found: Map<string, string>; libs: string[]; missing: string[] } {
  const found = new Map<string, string>();
  const libs: string[] = [];
  const missing: string[] = [];
  for (const line of out.split('\n')) {
    const f = /^QUICK-FOUND (module|tool) (\S+) (\/\S+)$/.exec(line);
    if (f) found.set(`${f[1]}:${f[2]}`, f[3]!);
    const l = /^QUICK-LIB (\/\S+)$/.exec(line);
    if (l && !libs.includes(l[1]!)) libs.push(l[1]!);
    const m = /^QUICK-MISSING (module|tool) (\S+) /.exec(line);
    if (m) missing.push(`${m[1]} ${m[2]}`);
  }
  return { found, libs, missing };
}

/** Who the project's build runs as in the chroot: nobody, who owns only the build's directory. */
export const BUILD_UID = 65534;

/**
 * The shell run in the fresh namespaces: /proc (of the new PID namespace), a few device nodes
 * and optionally one directory bound at a path in the root (all gone with the mount namespace);
 * the build's own directory handed to BUILD_UID; then chroot as that user.
 */
const ENTER = [
  'set -e',
  'r=$1 bind=$2 at=$3 own=$4; shift 4',
  'mount -t proc proc "$r/proc"',
  'mount -t tmpfs -o mode=0755 tmpfs "$r/dev"',
  'for n in null zero full random urandom; do touch "$r/dev/$n"; mount --bind "/dev/$n" "$r/dev/$n"; done',
  '[ -z "$bind" ] || { mkdir -p "$r$at"; mount --bind "$bind" "$r$at"; }',
  `chown -R ${BUILD_UID}:${BUILD_UID} "$r$own"`,
  `exec chroot --userspec=${BUILD_UID}:${BUILD_UID} "$r" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/tmp LC_ALL=C.UTF-8 "$@"`,
].join('\n');

/**
 * Runs the project's build (argv; NAME=VALUE words first, as env takes them) in a chroot of
 * rootDir. The build is the project's own code, so it is contained as far as the host allows
 * without a VM: an unprivileged user (nobody; it cannot leave a chroot or change the root's
 * files) who owns only `own` (a path in the root: the build directory), no network (a new net
 * namespace has only a down loopback), its own PID and mount namespaces. bind puts a host
 * directory at a path inside the root for this run only.
 */
export function runInRoot(rootDir: string, argv: readonly string[], opts: { own: string; bind?: { dir: string; at: string }; signal?: AbortSignal; logFile?: string; timeoutMs?: number }) {
  return run('unshare', ['--mount', '--propagation', 'private', '--net', '--pid', '--fork', '--', 'sh', '-c', ENTER, 'enter', rootDir, opts.bind?.dir ?? '', opts.bind?.at ?? '', opts.own, ...argv], {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.logFile ? { logFile: opts.logFile } : {}),
    allowFailure: true,
    timeoutMs: opts.timeoutMs ?? 900_000,
  });
}

export async function compilePayload(
  root: KernelRoot,
  sourceDir: string,
  payload: Payload,
  version: string,
  opts: { signal?: AbortSignal; logFile?: string } = {},
): Promise<BuiltPayload> {
  const key = createHash('sha256').update(sourceDir).digest('hex').slice(0, 16);
  const inRoot = `/tmp/vexfs-quick-${key}`;
  const work = join(root.dir, inRoot);
  await syncTree(sourceDir, work);
  await copyFile(join(GUEST_DIR, 'quick', 'build.sh'), join(root.dir, 'tmp', 'vexfs-quick-build.sh'));
  const buildDir = payload.buildDirectory === '.' ? inRoot : `${inRoot}/${payload.buildDirectory}`;
  const env = Object.entries(payload.env).map(([k, v]) => `${k}=${v}`);
  const r = await runInRoot(root.dir, [...env, `CARGO_HOME=${inRoot}/.cargo-home`, 'bash', '/tmp/vexfs-quick-build.sh', buildDir, root.kernelRelease, version, payload.buildCommand, buildSpec(payload)], { ...opts, own: inRoot });
  const log = `${r.stdout}\n${r.stderr}`;
  if (r.exitCode !== 0) {
    const tail = log.trim().split('\n').filter((l) => !l.startsWith('QUICK-')).slice(-25).join('\n');
    throw new GuestError(`the build (${payload.buildCommand}) failed against ${root.kernelRelease}'s headers (exit ${r.exitCode}):\n${tail}`, { hint: opts.logFile ? `see ${opts.logFile}` : undefined });
  }
  const rep = parseBuildReport(r.stdout);
  const host = (p: string): string => join(root.dir, relative('/', p));
  return {
    modules: payload.modules.flatMap((m) => {
      const p = rep.found.get(`module:${m.name}`);
      return p ? [{ name: m.name, file: host(p), ...(m.filesystem ? { filesystem: m.filesystem } : {}) }] : [];
    }),
    tools: payload.tools.flatMap((t) => {
      const p = rep.found.get(`tool:${t.name}`);
      if (!p) return [];
      const sub = (s: string): string => s.replaceAll('{{version}}', version);
      return [{ name: t.name, file: host(p), ...(t.version ? { versionCommand: sub(t.version.command), expect: sub(t.version.expect) } : {}) }];
    }),
    libs: rep.libs.map(host),
    missing: rep.missing,
    log,
  };
}
