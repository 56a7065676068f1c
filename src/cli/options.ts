// Option parsers shared by subcommands: a bad value is a UsageError (exit 2) naming the flag.
import { InvalidArgumentError, type Command } from 'commander';
import { MAX_CPUS, type BuildFlags } from '../config/load.js';

export function intOption(flag: string, min = 1, max?: number): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`${flag} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`);
    if (max !== undefined && Number(value) > max) throw new InvalidArgumentError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** vCPUs of one VM (build, validation, run): see MAX_CPUS. */
export const cpusOption = (): ((value: string) => number) => intOption('--cpus', 1, MAX_CPUS);

/** The options of the build VM that `build` and `ci` share (same names, same parsing). */
export function addBuildVmOptions(cmd: Command, help: { buildDir: string; timeout: string; cleanup: string; cpus: string }): Command {
  return cmd
    .option('--source <dir>', 'VexFS source tree with a vm-build target (default: the bundled examples/vexfs)')
    .option('--base <spec>', 'base image: debian-13, debian-12, ubuntu-24.04, ubuntu-22.04, a path or a URL (default: debian-13)')
    .option('--build-dir <dir>', help.buildDir)
    .option('--timeout <seconds>', help.timeout, intOption('--timeout'))
    .option('--no-cleanup', help.cleanup)
    .option('--memory <MiB>', 'build VM memory (default: 2048)', intOption('--memory', 512))
    .option('--cpus <n>', help.cpus, cpusOption())
    .option('--disk-size <size>', 'virtual disk size (default: 10G)')
    .option('--config <file>', 'config file (default: <source>/vexfs-image.yaml)')
    .option('--cache-dir <dir>', 'cache directory (default: $XDG_CACHE_HOME/vexfs-image)')
    .option('--format <formats>', 'image formats besides qcow2, comma-separated or repeated: raw, vhd (Azure, fixed), vmdk (streamOptimized), gce (disk.raw in a .tar.gz)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--no-preinstall', 'install the packages with apt inside the build VM, as with a downloaded cloud image, instead of baking them into a Debian base built here')
    .option('--no-snapshot', 'boot the build VM cold instead of resuming the cached snapshot of the booted base (saved by the first build of a base and machine; ~45 s less per build)');
}

/** What addBuildVmOptions parses (commander's --no-cleanup gives cleanup: boolean). */
export interface BuildVmCliOptions {
  source?: string;
  base?: string;
  buildDir?: string;
  timeout?: number;
  cleanup: boolean;
  memory?: number;
  cpus?: number;
  diskSize?: string;
  config?: string;
  cacheDir?: string;
  preinstall: boolean;
  snapshot?: boolean;
  format?: string[];
}

export function buildVmFlags(o: BuildVmCliOptions): Pick<BuildFlags, 'source' | 'base' | 'buildDir' | 'timeout' | 'memory' | 'cpus' | 'diskSize' | 'config' | 'cacheDir' | 'noCleanup' | 'preinstall' | 'formats' | 'snapshot'> {
  return {
    source: o.source,
    base: o.base,
    buildDir: o.buildDir,
    timeout: o.timeout,
    memory: o.memory,
    cpus: o.cpus,
    diskSize: o.diskSize,
    config: o.config,
    cacheDir: o.cacheDir,
    noCleanup: !o.cleanup,
    // Only an explicit --no-preinstall overrides the config file.
    preinstall: o.preinstall ? undefined : false,
    ...(o.format ? { formats: o.format } : {}),
    ...(o.snapshot === false ? { snapshot: false } : {}),
  };
}
