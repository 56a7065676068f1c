// Warm starts of the build VM (issue 16): a full build resumes a snapshot of the base booted with
// the build VM's seed and past cloud-init (src/vm/snapshot.ts) instead of booting it, ~45 s less
// under TCG. The first build of a kind saves that snapshot on its way (~7 s); every later one of
// the same base, machine and seed resumes it. The build itself is unchanged: the payload is
// compiled and installed in the VM, the variant, cleanup and finalise are the same steps.
//
// A VM that may be saved carries nothing of one build in its seed: the payload's files and units
// (cloud-init's write_files and runcmd in a cold boot) are written over SSH after the resume
// (guest/build/write-files.sh), and the source goes in as a tar stream over SSH into the build
// directory (the guest gets a copy; nothing of the host is shared with it, and no disk the
// snapshot's kernel might have cached is swapped under it).
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { BuildPlan } from '../config/load.js';
import { GuestError, TimeoutError } from '../errors.js';
import type { Step } from '../pipeline/step.js';
import { sshArgs, type SshTarget } from '../tools/ssh.js';
import { VmExitedError, type VmProfile } from '../tools/qemu.js';
import { dropSnapshot, openSnapshot, saveSnapshot, snapshotKey } from '../vm/snapshot.js';
import type { BuildContext } from './context.js';
import { runGuestScript } from './guest-run.js';
import { buildHostname, payloadFiles } from './seed.js';
import { builderUserData } from './user-data.js';

/** The user-data key a snapshot's key is computed with (the real one is the saving build's). */
const KEY_PLACEHOLDER = 'ssh-ed25519 KEY';

/** Why this build's VM can be neither saved nor resumed, or undefined when it can. */
export function warmStartBlocker(plan: Pick<BuildPlan, 'snapshot' | 'arch' | 'preinstall'>, profile: Pick<VmProfile, 'firmware'>): string | undefined {
  if (!plan.snapshot) return '--no-snapshot';
  if (plan.arch !== 'amd64') return 'snapshots are made of amd64 build VMs only';
  // OVMF keeps state in its variable store, a file the machine state does not carry.
  if (profile.firmware !== 'bios') return 'a UEFI build VM is booted cold';
  // Packages cloud-init installs at boot would be in the snapshot's disk: a seed's own.
  if (!plan.preinstall.length) return 'the base does not carry the packages (--no-preinstall): cloud-init installs them at boot';
  return undefined;
}

/** The warm start's plan and outcome for one build (BuildContext.warm). */
export interface WarmStart {
  key: string;
  /** restore: resumed from the snapshot; save: booted cold and saved on its way. */
  mode?: 'restore' | 'save';
  release?: () => Promise<void>;
  /** Set once the resumed VM answered and had finished cloud-init: later failures are the build's. */
  resumed?: boolean;
}

/** What made a snapshot of this build's VM: the base, the machine and the seed but its key. */
export function warmStartKey(plan: Readonly<BuildPlan>, profile: VmProfile, baseSha256: string, qemuVersion: string): string {
  const { machine, firmware, cpuModel, diskBus, memoryMb, cpus, accel, arch } = profile;
  return snapshotKey(
    {
      base: baseSha256,
      machine: { arch, machine, firmware, cpuModel, diskBus, memoryMb, cpus, accel, diskSizeBytes: plan.diskSizeBytes, network: 'full' },
      userData: builderUserData(plan, KEY_PLACEHOLDER),
      hostname: buildHostname(plan),
    },
    qemuVersion,
  );
}

/**
 * After the base step: resume the snapshot when there is a good one (its disk backs the overlay,
 * its state is loaded by the boot step), else boot cold and save one after cloud-init.
 */
export const warmStartStep: Step<BuildContext> = {
  name: 'warm-start',
  title: 'Snapshot of the booted build VM',
  skip: (ctx) => (ctx.warm ? undefined : 'the build VM boots cold'),
  async run(ctx, rt) {
    const warm = ctx.warm!;
    if (!ctx.base) throw new Error('warm-start: no base');
    const qemu = ctx.toolVersions[ctx.session.opts.profile.arch === 'amd64' ? 'qemu-system-x86_64' : 'qemu-system-aarch64'] ?? 'unknown';
    warm.key = warmStartKey(ctx.plan, ctx.session.opts.profile, ctx.base.digest, qemu);
    const opened = await openSnapshot(ctx.plan.cacheDir, warm.key, { signal: rt.signal });
    if ('why' in opened) {
      warm.mode = 'save';
      rt.info(`booting cold (${opened.why}); the booted VM will be saved as a snapshot`);
      return;
    }
    warm.mode = 'restore';
    warm.release = () => opened.lock.release();
    ctx.session.backing = { path: opened.disk, format: 'qcow2' };
    ctx.session.restoreFrom = opened.restore;
    rt.info(`resuming the snapshot of ${opened.entry.createdAt} (${warm.key.slice(0, 12)})`);
  },
  async cleanup(ctx) {
    await ctx.warm?.release?.();
  },
};

/** After cloud-init: a cold-booted snapshotable VM is saved (then resumed); a resumed one is marked good. */
export const saveSnapshotStep: Step<BuildContext> = {
  name: 'save-snapshot',
  title: 'Save the booted build VM',
  skip: (ctx) => (ctx.warm?.mode === 'save' ? undefined : ctx.warm?.mode === 'restore' ? 'resumed from the snapshot' : 'the build VM boots cold'),
  async run(ctx, rt) {
    const t0 = Date.now();
    const why = await saveSnapshot(ctx.session, ctx.plan.cacheDir, ctx.warm!.key);
    if (why) rt.info(`not saved: ${why}`);
    else rt.info(`saved in ${((Date.now() - t0) / 1000).toFixed(1)} s: the next build of this base and machine resumes it`);
  },
};

/**
 * Whether a failed build should be run again booting cold: its VM was resumed from a snapshot and
 * did not come up (QEMU refused the state, the guest died, or SSH or cloud-init did not answer in
 * time), before anything of the build ran in it. The snapshot is then dropped, so the next build
 * saves a new one. Any other failure is the build's own and is not retried.
 */
export async function retryCold(ctx: BuildContext, error: unknown): Promise<boolean> {
  const warm = ctx.warm;
  if (warm?.mode !== 'restore' || warm.resumed) return false;
  if (!(error instanceof VmExitedError || error instanceof TimeoutError)) return false;
  await warm.release?.();
  warm.release = undefined;
  await dropSnapshot(ctx.plan.cacheDir, warm.key);
  return true;
}

/** In a warm-started VM: the payload's files and units, as cloud-init puts them in a cold boot. */
export const payloadFilesStep: Step<BuildContext> = {
  name: 'payload-files',
  title: "The payload's files and units",
  skip: (ctx) => (ctx.warm ? undefined : "written by cloud-init from the seed"),
  async run(ctx, rt) {
    if (ctx.warm?.mode === 'restore') ctx.warm.resumed = true;
    const ssh = ctx.session.ssh;
    if (!ssh) throw new Error('payload-files: no SSH target');
    const files = await payloadFiles(ctx.plan, ctx.startedAt);
    const records = files.map((f) => `${f.permissions}\t${f.path}\t${Buffer.from(f.content).toString('base64')}`).join('\n');
    // Base64 only: nothing in it needs quoting. The prelude travels on stdin, never in an argv.
    const r = await runGuestScript(ssh, 'write-files.sh', [...ctx.plan.payload.services], rt, { timeoutMs: 120_000, what: "writing the payload's files", prelude: `files='${records}'` });
    rt.info(`${r.results.files_written ?? 0} files written, ${ctx.plan.payload.services.length} units enabled`);
  },
};

/** Excluded from the copy, as build-payload.sh's own copy of a mounted source excludes them. */
export const SOURCE_COPY_EXCLUDES = ['--exclude=.git', '--exclude=./target', '--exclude=./vexctl/target'];

/**
 * Streams the source tree into the guest's build directory: GNU tar on the host (symlinks stay
 * links, nothing is followed) into tar -x as root in the guest, as build-payload.sh's own copy does.
 */
export async function streamSource(ssh: SshTarget, sourceDir: string, dest: string, opts: { signal: AbortSignal; logFile: string; timeoutMs: number }): Promise<void> {
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const remote = `sudo -n sh -c 'rm -rf ${dest} && mkdir -p ${dest} && tar -C ${dest} -xf -'`;
  log.write(`$ tar -C ${sourceDir} ${SOURCE_COPY_EXCLUDES.join(' ')} -cf - . | ssh ... ${remote}\n`);
  try {
    const tar = spawn('tar', ['-C', sourceDir, ...SOURCE_COPY_EXCLUDES, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
    const guest = spawn('ssh', [...sshArgs(ssh), '--', remote], { stdio: ['pipe', 'pipe', 'pipe'], signal: opts.signal });
    const timer = setTimeout(() => {
      tar.kill('SIGKILL');
      guest.kill('SIGKILL');
    }, opts.timeoutMs);
    tar.stdout.pipe(guest.stdin);
    guest.stdin.on('error', () => undefined); // a guest that exits early: its code says why
    for (const p of [tar.stderr, guest.stdout, guest.stderr]) p.on('data', (d: Buffer) => log.write(d));
    const exit = (p: import('node:child_process').ChildProcess): Promise<number | null> => new Promise((resolve) => {
      p.on('error', () => resolve(null));
      p.on('close', (code) => resolve(code));
    });
    const [tarCode, sshCode] = await Promise.all([exit(tar), exit(guest)]).finally(() => clearTimeout(timer));
    if (tarCode !== 0 || sshCode !== 0) throw new GuestError(`copying the source into the VM failed (tar exit ${tarCode}, ssh exit ${sshCode})`, { cause: opts.signal.reason });
  } finally {
    await new Promise((r) => log.end(r));
  }
}
