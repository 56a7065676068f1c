// `vexfs-image cache list|prune`: what the base-image cache holds, and removing it.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { BaseCache } from '../../base/cache.js';
import { listDerived, pruneDerived } from '../../base/derived-cache.js';
import { checkDirArg } from '../../config/dir-arg.js';
import { defaultCacheDir } from '../../paths.js';
import { formatBytes } from '../../ui/format.js';
import type { CliContext } from '../context.js';

/** "30d", "12h", "90m" or a bare number of days → milliseconds. */
export function parseAge(value: string): number {
  const m = /^(\d+)([dhm]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`--older-than must look like 30d, 12h or 90m, got ${JSON.stringify(value)}`);
  const unit = m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 86_400_000;
  return Number(m[1]) * unit;
}

export function register(program: Command, ctx: CliContext): void {
  const cache = program
    .command('cache')
    .description('list or prune cached base images, and what builds derived from them (snapshots, incremental images, kernel roots)')
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image cache list
  $ vexfs-image cache prune --older-than 30d
  $ vexfs-image cache prune --all --dry-run`,
    );
  // A --cache-dir that is a file is bad input, not an empty cache (nothing is created by this check).
  const dirOf = (o: { cacheDir?: string }): string => checkDirArg(o.cacheDir ?? defaultCacheDir(ctx.env), o.cacheDir ? '--cache-dir' : 'the cache directory');

  cache
    .command('list')
    .description('list cached base images')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--json', 'print the entries as JSON')
    .option('--derived', 'list what builds derived from the bases instead: build VM snapshots, incremental-build images and trees, kernel roots')
    .action(async (opts: { cacheDir?: string; json?: boolean; derived?: boolean }) => {
      if (opts.derived) {
        const derived = await listDerived(dirOf(opts));
        if (opts.json) ctx.stdout.write(`${JSON.stringify(derived.map((d) => ({ ...d, lastUsed: d.lastUsed.toISOString() })), null, 2)}\n`);
        else {
          for (const d of derived) ctx.stdout.write(`${d.family}/${d.name}  ${formatBytes(d.bytes)}  last used ${d.lastUsed.toISOString().slice(0, 16).replace('T', ' ')}  ${d.what}\n`);
          ctx.stdout.write(`${derived.length} derived entries, ${formatBytes(derived.reduce((n, d) => n + d.bytes, 0))} in ${dirOf(opts)}\n`);
        }
        return;
      }
      const entries = await new BaseCache(dirOf(opts)).list();
      if (opts.json) {
        const out = entries.map((e) => ({
          key: e.key,
          path: e.entry ? `${e.dir}/${e.entry.file}` : undefined,
          kind: e.entry?.kind,
          name: e.entry?.name,
          source: e.entry?.source,
          sha256: e.entry?.sha256,
          bytes: e.bytes,
          createdAt: e.entry?.createdAt,
          lastUsed: e.lastUsed.toISOString(),
          problem: e.problem,
        }));
        ctx.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
        return;
      }
      if (!entries.length) {
        ctx.stdout.write(`no cached base images in ${dirOf(opts)}\n`);
        return;
      }
      for (const e of entries) {
        const what = e.entry ? `${e.entry.name}  ${e.entry.format}  sha256:${e.entry.sha256.slice(0, 12)}…` : '';
        ctx.stdout.write(`${e.key}  ${formatBytes(e.bytes)}  last used ${e.lastUsed.toISOString().slice(0, 16).replace('T', ' ')}  ${what}${e.problem ? `  (${e.problem})` : ''}\n`);
      }
      ctx.stdout.write(`${entries.length} entries, ${formatBytes(entries.reduce((n, e) => n + e.bytes, 0))} in ${dirOf(opts)}\n`);
      const derived = await listDerived(dirOf(opts));
      if (derived.length) ctx.stdout.write(`and ${derived.length} derived entries (snapshots, incremental images, kernel roots), ${formatBytes(derived.reduce((n, d) => n + d.bytes, 0))}: cache list --derived\n`);
    });

  cache
    .command('prune')
    .description('remove unfinished work, broken entries, and (with options) old or all entries')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--all', 'remove every cached base image')
    .option('--older-than <age>', 'remove entries not used for this long (30d, 12h, 90m)', parseAge)
    .option('--verify', 'hash every image and remove those that no longer match their digest')
    .option('--dry-run', 'only print what would be removed')
    .action(async (opts: { cacheDir?: string; all?: boolean; olderThan?: number; verify?: boolean; dryRun?: boolean }) => {
      const base = await new BaseCache(dirOf(opts)).prune({ all: opts.all, olderThanMs: opts.olderThan, verify: opts.verify, dryRun: opts.dryRun });
      // Derived entries by the same age rule (each store verifies its own before use).
      const derived = await pruneDerived(dirOf(opts), { all: opts.all, olderThanMs: opts.olderThan, dryRun: opts.dryRun });
      const r = { removed: [...base.removed, ...derived.removed], skipped: [...base.skipped, ...derived.skipped], freedBytes: base.freedBytes + derived.freedBytes };
      const verb = opts.dryRun ? 'would remove' : 'removed';
      for (const x of r.removed) ctx.stdout.write(`${verb} ${x.key} (${formatBytes(x.bytes)}): ${x.reason}\n`);
      for (const x of r.skipped) ctx.stderr.write(`kept ${x.key}: ${x.reason}\n`);
      ctx.stdout.write(`${verb} ${r.removed.length} item(s), ${formatBytes(r.freedBytes)}\n`);
    });
}
