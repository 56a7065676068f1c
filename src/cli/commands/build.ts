// `vexfs-image build`: the spec's image builder.
import type { Command } from 'commander';
import { build } from '../../api.js';
import type { BuildFlags } from '../../config/load.js';
import { chooseRenderer, createRenderer } from '../../ui/renderers.js';
import { formatBytes } from '../../ui/format.js';
import type { CliContext } from '../context.js';
import { addBuildVmOptions, buildVmFlags, type BuildVmCliOptions } from '../options.js';

interface BuildCliOptions extends BuildVmCliOptions {
  variant?: string;
  version?: string;
  outputDir?: string;
  force?: boolean;
  incremental?: boolean;
  json?: boolean;
  buildCommand?: string;
  buildSubdir?: string;
  module?: string[];
  arch?: string;
}

export function toBuildFlags(o: BuildCliOptions): BuildFlags {
  return {
    ...buildVmFlags(o),
    variant: o.variant,
    version: o.version,
    outputDir: o.outputDir,
    force: o.force ?? false,
    incremental: o.incremental ?? true,
    ...(o.arch !== undefined ? { arch: o.arch } : {}),
    payload: { buildCommand: o.buildCommand, buildSubdir: o.buildSubdir, modules: o.module },
  };
}

function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('build')
    .description('build a VexFS image: boot a base image, build vexfs.ko and vexctl in the VM, finalise')
    .option('--variant <name>', 'minimal, development, production, or one from vexfs-image.yaml (default: production, env IMAGE_VARIANT)')
    .option('--version <version>', 'VexFS version to stamp (default: 1.0.0, env VEXFS_VERSION)')
    .option('--arch <arch>', 'guest architecture: amd64 or arm64 (default: amd64, or arch in vexfs-image.yaml); arm64 images are named vexfs-<variant>-<version>-arm64');
  addBuildVmOptions(cmd, {
    buildDir: 'working directory for VMs and logs (default: build)',
    timeout: 'deadline for the in-VM work (default: 1800)',
    cleanup: 'keep build/vm-<variant>/ (user-data, serial log, disk) for debugging',
    cpus: 'build VM CPUs (default: 2)',
  })
    .option('--output-dir <dir>', 'where finished images go (default: images)')
    .option('--force', 'rebuild even when the image is up to date, and replace an existing image of the same name')
    .option('--no-incremental', 'a full build in the build VM, even when a cached image of the same inputs but the source could be updated instead')
    .option('--build-command <cmd>', 'the payload\'s build command, run in the build directory (default: payload.build.command, else make vm-build)')
    // Not --build-dir: that is the host's working directory for VMs and logs.
    .option('--build-subdir <dir>', 'where the build runs, relative to the source root (default: payload.build.directory, else the root)')
    .option('--module <name>', 'a kernel module the build produces (repeatable; replaces payload.modules, keeping a declared entry\'s settings)', collect)
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image build                                   # production image of the bundled example
  $ vexfs-image build --variant minimal
  $ vexfs-image build --version 1.1.0 --variant development --source ~/src/vexfs
  $ vexfs-image build --variant minimal --no-cleanup    # keep build/vm-minimal/ for debugging
  $ vexfs-image build --variant minimal --arch arm64 --base debian-12   # arm64 under TCG (qemu-system-arm, qemu-efi-aarch64, qemu-user-static, binfmt-support)

An image whose manifest records the same inputs digest (source tree, config, payload, variant,
version, package set, base image sha256, vexfs-image's version and code, guest/ scripts) and whose
files match their sizes and .sha256 files is up to date: "up to date: PATH", exit 0, nothing written,
no VM started. A --format it was not published with is then written from it (and added to its
manifest and provenance) instead of a rebuild.
An existing image with other inputs is refused (exit 2, naming what changed), never replaced
unasked: pass --force to rebuild it, or a new --version.

When only the source changed since an image cached by an earlier build (minimal, production;
amd64, as root), the build is incremental: the payload is compiled on the host in the base's own
root and installed by a VM booted straight into the image's kernel (~30 s instead of ~2 min;
the manifest records incremental.from_image_sha256). --no-incremental builds in full.

A full build resumes a cached snapshot of its build VM, booted and past cloud-init (saved by the
first build of the base and machine), instead of booting it: ~5 s instead of ~50 s under TCG;
the payload is still built and installed in the VM (manifest: build_vm.start). --no-snapshot boots
it cold; UEFI and arm64 build VMs and --no-preinstall bases always boot cold.`,
    )
    .action(async (o: BuildCliOptions) => {
      const renderer = createRenderer(chooseRenderer({ env: ctx.env, quiet: program.opts<{ quiet?: boolean }>().quiet }));
      try {
        const r = await build({ ...toBuildFlags(o), env: ctx.env, signal: ctx.signal, emit: renderer.sink });
        renderer.done();
        if (o.json) ctx.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else if (r.upToDate) {
          ctx.stderr.write(`up to date: ${r.artifacts.image}\n`);
          if (r.addedFormats) ctx.stderr.write(`added ${r.addedFormats.formats.join(', ')} from it in ${(r.addedFormats.ms / 1000).toFixed(1)} s (manifest and provenance updated)\n`);
          ctx.stdout.write(`${r.artifacts.image}\n`);
        } else {
          ctx.stderr.write(`image: ${r.artifacts.image} (${formatBytes(r.artifacts.imageSize)}, gzip ${formatBytes(r.artifacts.compressedSize)}); logs: ${r.logDir}\n`);
          ctx.stdout.write(`${r.artifacts.image}\n`);
        }
      } finally {
        renderer.done();
      }
    });
}
