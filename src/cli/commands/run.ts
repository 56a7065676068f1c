// `vexfs-image run IMAGE`: boot an image for interactive use (like `mkosi qemu`) and stay in
// the foreground until Ctrl-C or the guest powers off. The "ready:" lines go to stdout,
// progress to stderr.
import type { Command } from 'commander';
import { run } from '../../api.js';
import { UsageError } from '../../errors.js';
import { readyLines } from '../../run/connect.js';
import { RUN_DEFAULTS } from '../../run/instance.js';
import { DEFAULT_RUN_USER } from '../../run/names.js';
import { VALIDATE_DEFAULTS } from '../../validate/index.js';
import { completeChoice, parseProfile, resolveHardware } from '../../vm/profile.js';
import type { CliContext } from '../context.js';
import { parseArch } from '../../arch.js';
import { cpusOption, intOption } from '../options.js';

export interface RunCliOptions {
  name?: string;
  imagesDir: string;
  memory: number;
  cpus: number;
  bootTimeout: number;
  sshTimeout: number;
  shutdownTimeout: number;
  user: string;
  cleanup: boolean;
  network?: boolean;
  profile?: string;
  arch?: string;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .description('boot an image on a throw-away overlay, print how to SSH in, and keep it running until Ctrl-C')
    .argument('<image>', 'image file, or a name in the images directory')
    .option('--name <name>', 'instance name for `vexfs-image ssh NAME` (default: the image file name)')
    .option('-d, --images-dir <dir>', 'directory where IMAGE names are looked up', VALIDATE_DEFAULTS.imagesDir)
    .option('--memory <MiB>', 'guest memory', intOption('--memory', 256), RUN_DEFAULTS.memoryMb)
    .option('--cpus <n>', 'guest CPUs', cpusOption(), RUN_DEFAULTS.cpus)
    .option('--boot-timeout <seconds>', 'power-on to SSH-ready deadline', intOption('--boot-timeout'), RUN_DEFAULTS.bootTimeoutS)
    .option('--ssh-timeout <seconds>', 'deadline for each command run itself runs over SSH (at least the wait for cloud-init)', intOption('--ssh-timeout'), RUN_DEFAULTS.sshTimeoutS)
    .option('--shutdown-timeout <seconds>', 'time the guest gets to power off after Ctrl-C before QEMU is killed', intOption('--shutdown-timeout'), RUN_DEFAULTS.shutdownTimeoutS)
    .option('--user <user>', 'login user created in the guest (passwordless sudo, key login only); not an account the image already has', DEFAULT_RUN_USER)
    .option('--no-cleanup', 'keep the instance directory (overlay, serial and QEMU logs, key) after exit')
    .option('--network', 'give the guest the host\'s network (default: none beyond the SSH forward)')
    .option('--arch <arch>', 'architecture (amd64, arm64) of an image whose sidecar .json and name do not say (default: amd64)')
    .option('--profile <profile>', 'VM profile as validate takes it: firmware bios|uefi, disk bus virtio-blk|virtio-scsi|nvme|sata, memory (512M, 2G), vCPUs (2cpu), comma-separated, e.g. uefi,nvme (what it leaves out comes from --memory and --cpus; default: bios,virtio-blk)')
    .addHelpText(
      'after',
      `
The image is only the read-only backing file of a throw-away qcow2 overlay: it is never
modified. Each run gets a new cloud-init instance-id, a fresh ed25519 key and the guest's SSH
port forwarded from 127.0.0.1 only, on a port the OS picks. Once SSH works, stdout gets

  ready: vexfs-image ssh NAME
     or: ssh -i KEY -p PORT -o IdentitiesOnly=yes -o UserKnownHostsFile=KNOWN_HOSTS USER@127.0.0.1

and run stays in the foreground. Ctrl-C (or SIGTERM) powers the guest off with ACPI, kills
QEMU after --shutdown-timeout, and removes the instance; powering off from inside the guest
ends run as well.

Instance state lives in <cache dir>/instances/NAME/ (cache dir: $VEXFS_IMAGE_CACHE_DIR, else
$XDG_CACHE_HOME/vexfs-image, else ~/.cache/vexfs-image): state.json (name, image, pids, SSH
port, user, key), the private key (0600), known_hosts, the overlay, serial.log and qemu.log.
A directory whose run process is gone is stale and is replaced by the next run of that NAME.
On a boot failure the serial and QEMU logs are copied to a directory named in the error.

Examples:
  $ vexfs-image run images/vexfs-minimal-1.0.0.qcow2          instance vexfs-minimal-1.0.0
  $ vexfs-image run vexfs-development-1.0.0 --name dev        looked up in ./images
  $ vexfs-image run "$(vexfs-image base)" --name base --memory 1024
  $ vexfs-image run vexfs-minimal-1.0.0 --profile uefi,nvme,512M   under OVMF, root disk on NVMe
  $ vexfs-image ssh dev -- uname -r                           (from another terminal)
Exit status: 0 the guest powered off, 1 it did not boot (or QEMU died), 2 bad usage or NAME
already running, 130 interrupted (the guest is powered off first).`,
    )
    .action(async (image: string, o: RunCliOptions, cmd: Command) => {
      const quiet = Boolean(cmd.optsWithGlobals<{ quiet?: boolean }>().quiet);
      const say = (m: string): void => {
        if (!quiet) ctx.stderr.write(`${m}\n`);
      };
      // Judged before anything starts: values, the images' least memory, OVMF on the host (exit 2).
      const choice = o.profile ? completeChoice(parseProfile(o.profile), { memoryMb: o.memory, cpus: o.cpus }) : undefined;
      const arch = o.arch !== undefined ? parseArch(o.arch) : undefined;
      if (choice) resolveHardware({ ...choice, ...(arch ? { arch } : {}) }, ctx.env);
      // Not wired into run's session yet (the MOK enrolment lives in validate): refuse, never ignore.
      if (choice?.secureBoot) throw new UsageError('run --profile secureboot is not supported: use validate --profile secureboot');
      // SIGHUP (a closed terminal) aborts ctx.signal like SIGINT/SIGTERM (pipeline/abort.ts).
      await run({
        image,
        name: o.name,
        imagesDir: o.imagesDir,
        user: o.user,
        env: ctx.env,
        memoryMb: choice?.memoryMb ?? o.memory,
        cpus: choice?.cpus ?? o.cpus,
        ...(choice ? { hardware: { firmware: choice.firmware, diskBus: choice.diskBus } } : {}),
        ...(arch ? { arch } : {}),
        network: o.network === true,
        bootTimeoutS: o.bootTimeout,
        sshTimeoutS: o.sshTimeout,
        shutdownTimeoutS: o.shutdownTimeout,
        noCleanup: !o.cleanup,
        signal: ctx.signal,
        onInfo: say,
        onWarn: (m) => ctx.stderr.write(`warning: ${m}\n`),
        onReady: (state) => {
          ctx.stdout.write(readyLines(state));
          say('Ctrl-C powers the guest off and removes the instance');
        },
      });
    });
}
