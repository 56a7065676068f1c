// `vexfs-image base`: resolve (build, download or inspect) a base image and print its cached
// path on stdout. Progress and notices go to stderr.
import type { Command } from 'commander';
import { base } from '../../api.js';
import { DEFAULT_DISTRO, parseBaseSpec, PRESET_NAMES, type DownloadProgress } from '../../base/index.js';
import { ARCHES, DEFAULT_ARCH, parseArch } from '../../arch.js';
import { assertArchHost } from '../../tools/arch-host.js';
import { assertBaseArch } from '../../base/presets.js';
import { defaultCacheDir } from '../../paths.js';
import { checkBaseSpec } from '../../base/spec-check.js';
import { checkDirArg } from '../../config/dir-arg.js';
import { formatBytes } from '../../ui/format.js';
import type { CliContext } from '../context.js';

interface BaseCliOptions {
  distro: string;
  checksum?: string;
  cacheDir?: string;
  rebuild?: boolean;
  json?: boolean;
  arch?: string;
}

/** One progress line: "downloading 41% 120.0 MiB / 290.0 MiB". */
export function progressLine(p: DownloadProgress): string {
  const pct = p.total ? `${Math.floor((100 * p.received) / p.total)}% ` : '';
  return `downloading ${pct}${formatBytes(p.received)}${p.total ? ` / ${formatBytes(p.total)}` : ''}`;
}

/** A TTY gets one line redrawn in place; logs get a line every 10%. */
export function progressRenderer(stderr: NodeJS.WriteStream, quiet: boolean): (p: DownloadProgress) => void {
  if (quiet) return () => undefined;
  let lastDecile = -1;
  return (p) => {
    if (stderr.isTTY) {
      stderr.write(`\r\x1b[K${progressLine(p)}${p.done ? '\n' : ''}`);
      return;
    }
    const decile = p.total ? Math.floor((10 * p.received) / p.total) : -1;
    if (p.done || decile > lastDecile) {
      lastDecile = decile;
      stderr.write(`${progressLine(p)}\n`);
    }
  };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('base')
    .description('build, download or check a base image and print its path (cached)')
    .option('--distro <name|path|url>', `${PRESET_NAMES.join(', ')}, a local disk image, or an http(s) URL`, DEFAULT_DISTRO)
    .option('--checksum <sha256:hex>', 'expected SHA-256 of a downloaded image (instead of the publisher\'s SHA256SUMS)')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--arch <arch>', `guest architecture: ${ARCHES.join(', ')} (default: ${DEFAULT_ARCH}); arm64 is built here through qemu-user`)
    .option('--rebuild', 'ignore a cached base and build or download it again')
    .option('--json', 'print path, format, virtual size, digest and source as JSON')
    .addHelpText(
      'after',
      `
Debian presets are built from Debian packages with mmdebstrap (needs root, reaches only the
Debian mirror: set VEXFS_IMAGE_DEBIAN_MIRROR for a local one). Ubuntu presets and URLs are
verified against the publisher's SHA256SUMS (VEXFS_IMAGE_UBUNTU_MIRROR for a local mirror).
Local files are only inspected, never modified.

Examples:
  $ vexfs-image base                                   build or reuse the debian-13 base
  $ vexfs-image base --distro ubuntu-24.04
  $ vexfs-image base --distro https://example.org/img/disk.qcow2 --checksum sha256:<hex>
  $ vexfs-image base --distro ./my-image.qcow2 --json`,
    )
    .action(async (opts: BaseCliOptions) => {
      const quiet = Boolean((program.opts() as { quiet?: boolean }).quiet);
      const started = Date.now();
      // Bad input before anything is written: the spec, a local file's path, the cache directory.
      const cacheDir = checkDirArg(opts.cacheDir ?? defaultCacheDir(ctx.env), opts.cacheDir ? '--cache-dir' : 'the cache directory');
      checkBaseSpec(opts.distro, { checksum: opts.checksum, ubuntuMirror: ctx.env.VEXFS_IMAGE_UBUNTU_MIRROR });
      const arch = parseArch(opts.arch);
      assertBaseArch(opts.distro, arch);
      // A Debian base for arm64 is built through qemu-user: its host packages, before anything is written.
      if (parseBaseSpec(opts.distro).kind === 'debian') assertArchHost(arch, ['base'], ctx.env);
      const r = await base({
        distro: opts.distro,
        cacheDir,
        signal: ctx.signal,
        env: ctx.env,
        checksum: opts.checksum,
        rebuild: opts.rebuild,
        arch,
        onInfo: quiet ? undefined : (m) => ctx.stderr.write(`${m}\n`),
        onProgress: progressRenderer(ctx.stderr, quiet),
      });
      if (!quiet) {
        const how = r.kind === 'local' ? 'local file' : r.cached ? 'cached' : r.kind === 'debian' ? 'built' : 'downloaded';
        ctx.stderr.write(`${r.source}: ${how}, ${r.format}, virtual size ${formatBytes(r.virtualSize)}, ${r.digest} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      }
      ctx.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.path}\n`);
    });
}
