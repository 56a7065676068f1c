// Incremental builds: when the cache holds an image built from the same inputs but the source
// (store.ts), a build replaces only what the source makes. The payload's build half runs on the
// host in a chroot of the base's root (compile.ts); its install half runs in a VM booted straight
// into that image's kernel, on an overlay of the cached image (install-vm.ts); finalise is the
// full build's. No build VM boot, cloud-init, apt, toolchain purge or golden cleanup: those gave
// the cached image what they would give this one, since nothing they depend on changed.
//
// Only builds whose image a full build would make the same way qualify (incrementalBlocker):
// the host compiles for amd64 only, the chroot needs root, the base must carry the toolchain
// (preinstall), a variant that keeps the toolchain also keeps the build tree, signing happens in
// the build VM, and an install command may install any file (the install VM would not know which
// old ones to remove). Anything else is a full build, with the reason said.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildPlan } from '../../config/load.js';
import type { EventSink } from '../../pipeline/events.js';
import type { StepTiming } from '../../pipeline/runner.js';
import { runBuildSteps } from '../run.js';
import type { Step } from '../../pipeline/step.js';
import { which } from '../../tools/host-tools.js';
import { bootStep, overlayStep, resolveVmProfile, type VmProfile } from '../../vm/index.js';
import type { VmSessionOptions } from '../../vm/session.js';
import { cachedRoot, kernelRoot, type KernelRoot } from '../../quick/root.js';
import { FAST_BOOT_ARGS } from '../../vm/session.js';
import type { Artifacts, BuildContext } from '../context.js';
import { finaliseStep } from '../finalise.js';
import { reportingNoSpace } from '../no-space.js';
import { prepareStep } from '../prepare.js';
import { buildSpec } from '../build-in-vm.js';
import { payloadFiles } from '../seed.js';
import type { InputParts } from '../inputs.js';
import { compileOnHost } from './compile.js';
import { installStep, makeInstallInitramfs } from './install-vm.js';
import { ENTRY_FORMAT, entryKey, openEntry, recordEntry, type IncrementalEntry } from './store.js';

const BUSYBOX = '/bin/busybox';
/** The install VM: the image's kernel and a busybox initramfs need little. */
const INSTALL_VM = Object.freeze({ memoryMb: 512, cpus: 1 });

/** Why plan cannot be built incrementally, or undefined when it can. */
export function incrementalBlocker(plan: Pick<BuildPlan, 'arch' | 'preinstall' | 'variant' | 'variantName' | 'signing' | 'payload'>, host: { arch: string; uid: number | undefined } = { arch: process.arch, uid: process.getuid?.() }): string | undefined {
  if (plan.arch !== 'amd64' || host.arch !== 'x64') return 'incremental builds compile on this host: amd64 images on an x86_64 host only';
  if (host.uid !== 0) return 'incremental builds compile in a chroot of the base: run as root';
  if (!plan.preinstall.length) return 'the base does not carry the toolchain (--no-preinstall, or a base not built here)';
  if (plan.variant.keep_toolchain) return `variant ${plan.variantName} keeps the toolchain and the build tree in the image`;
  if (plan.signing) return 'modules are signed in the build VM';
  if (plan.payload.installCommand) return 'the payload has its own install command';
  if (!existsSync(BUSYBOX)) return `${BUSYBOX} is not installed (Debian package busybox-static)`;
  for (const t of ['debugfs', 'sfdisk', 'unshare', 'chroot']) if (!which(t)) return `${t} is not installed`;
  return undefined;
}

export type IncrementalChoice =
  | { use: true; entry: IncrementalEntry; image: string; release: () => Promise<void>; root: KernelRoot }
  /** eligible: the plan qualifies, only this build cannot start from a cached image (why says so). */
  | { use: false; why: string; eligible?: boolean };

/** Whether this build can start from a cached image, decided before anything is written. */
export async function chooseIncremental(plan: Readonly<BuildPlan>, parts: Omit<InputParts, 'base'>, baseSha256: string | undefined, opts: { signal: AbortSignal; onInfo: (m: string) => void }): Promise<IncrementalChoice> {
  const blocker = incrementalBlocker(plan);
  if (blocker) return { use: false, why: blocker };
  if (!baseSha256) return { use: false, why: 'the base is not built yet' };
  if (!plan.incremental) return { use: false, why: '--no-incremental', eligible: true };
  const opened = await openEntry(plan.cacheDir, entryKey(parts, baseSha256, plan.arch), { signal: opts.signal });
  if ('why' in opened) return { use: false, why: opened.why, eligible: true };
  const release = (): Promise<void> => opened.lock.release();
  try {
    if (opened.entry.source === parts.source) {
      await release();
      return { use: false, why: 'the source is the cached image\'s own (a forced rebuild of the same inputs is a full build)', eligible: true };
    }
    const base = opened.entry.base;
    const root = (await cachedRoot(plan.cacheDir, baseSha256)) ?? (await kernelRoot({ path: base.path, format: base.format, sha256: baseSha256 }, plan.cacheDir, { signal: opts.signal, onInfo: opts.onInfo }));
    if (root.kernelRelease !== opened.entry.kernelRelease) {
      await release();
      return { use: false, why: `the base's kernel (${root.kernelRelease}) is not the cached image's (${opened.entry.kernelRelease})`, eligible: true };
    }
    return { use: true, entry: opened.entry, image: opened.image, release, root };
  } catch (e) {
    await release();
    return { use: false, why: `the base's root could not be read (${(e as Error).message.split('\n')[0]})`, eligible: true };
  }
}

/** The entry a finished build leaves for the next one. */
export function entryOf(ctx: BuildContext, key: string, source: string): IncrementalEntry | undefined {
  const a = ctx.artifacts;
  if (!a || !ctx.base || !ctx.guest.kernel || !ctx.supply?.dpkgStatus) return undefined;
  return {
    format: ENTRY_FORMAT,
    key,
    source,
    image: { sha256: a.imageSha256, size: a.imageSize },
    kernelRelease: ctx.guest.kernel,
    base: ctx.base,
    guest: ctx.guest,
    supply: { dpkgStatus: ctx.supply.dpkgStatus, ...(ctx.supply.licences ? { licences: ctx.supply.licences } : {}) },
  };
}

/** Records a finished build's image as the entry of its inputs (when its plan qualifies); says so, or why not. */
export async function rememberImage(ctx: BuildContext, emit: EventSink): Promise<void> {
  const baseSha256 = ctx.base?.digest.replace(/^sha256:/, '');
  if (!ctx.inputParts || !baseSha256 || incrementalBlocker(ctx.plan)) return;
  const entry = entryOf(ctx, entryKey(ctx.inputParts, baseSha256, ctx.plan.arch), ctx.inputParts.source);
  if (!entry || !ctx.artifacts) return;
  const ok = await recordEntry(ctx.plan.cacheDir, entry, ctx.artifacts.image).catch(() => false);
  emit({ type: 'info', step: 'incremental', message: ok ? 'cached for incremental builds' : 'not cached for incremental builds: another build holds the entry' });
}

function steps(stageTimes: Record<string, number>, use: Extract<IncrementalChoice, { use: true }>): Step<BuildContext>[] {
  const fromCache: Step<BuildContext> = {
    name: 'cached-image',
    title: 'Cached image of the same inputs but the source',
    async run(ctx, rt) {
      ctx.base = use.entry.base;
      // The facts of what did not change; the source was not shared with a VM this time.
      const { sourceTransport: _shared, ...guest } = use.entry.guest;
      ctx.guest = guest;
      ctx.supply = { ...use.entry.supply };
      ctx.incrementalFrom = { imageSha256: use.entry.image.sha256 };
      ctx.session.backing = { path: use.image, format: 'qcow2' };
      rt.info(`starting from ${use.image} (sha256 ${use.entry.image.sha256.slice(0, 12)}): only the payload is rebuilt and reinstalled`);
    },
  };
  const compile: Step<BuildContext> = {
    name: 'compile',
    title: 'Build the payload (host, in the base\'s root)',
    async run(ctx, rt) {
      const spec = await buildSpec(ctx.plan, rt.signal);
      const built = await compileOnHost(use.root, { cacheDir: ctx.plan.cacheDir, sourceDir: ctx.plan.sourceDir, payload: ctx.plan.payload, version: ctx.plan.version, spec }, { signal: rt.signal, logFile: rt.logFile });
      rt.info(`built ${built.found.map((f) => f.name).join(', ')} against ${use.root.kernelRelease} in ${(built.ms / 1000).toFixed(1)} s`);
      const initrd = ctx.session.opts.directKernel?.initrd;
      if (!initrd) throw new Error('compile: the install VM has no initramfs path');
      await writeFile(initrd, await makeInstallInitramfs(built, spec, ctx.plan.version, await payloadFiles(ctx.plan, ctx.startedAt), BUSYBOX), { mode: 0o600 });
    },
  };
  return [prepareStep, fromCache, overlayStep, compile, bootStep, installStep, reportingNoSpace(finaliseStep(stageTimes))];
}

export interface IncrementalResult {
  artifacts: Artifacts;
  timings: StepTiming[];
  logDir: string;
}

export async function buildIncrementally(
  plan: Readonly<BuildPlan>,
  use: Extract<IncrementalChoice, { use: true }>,
  parts: Omit<InputParts, 'base'>,
  newContext: (profile: VmProfile, sessionFor: (vmDir: string) => VmSessionOptions) => BuildContext,
  opts: { signal: AbortSignal; emit: EventSink },
): Promise<IncrementalResult> {
  try {
    const { profile, report } = await resolveVmProfile({ ...INSTALL_VM, cacheDir: plan.cacheDir, hardware: { arch: 'amd64', diskBus: 'nvme' }, neededToolsOnly: true, signal: opts.signal });
    const ctx = newContext(profile, (vmDir) => ({
      name: `vexfs-install-${plan.variantName}`,
      profile,
      dir: vmDir,
      cacheDir: plan.cacheDir,
      user: 'root',
      seed: () => {
        throw new Error('the install VM boots without a seed');
      },
      diskSizeBytes: plan.diskSizeBytes,
      discard: true,
      bootTimeoutMs: plan.timeoutS * 1000,
      timeoutHint: `pass a larger --timeout, e.g. --timeout ${plan.timeoutS * 2}`,
      network: 'isolated',
      cloudInitErrors: 'record',
      powerOff: 'kill',
      killOnAbort: true,
      // loglevel=1: only emergencies between the guest's result lines.
      directKernel: { kernel: use.root.kernel, initrd: join(vmDir, 'install-initrd.img'), append: `console=ttyS0 quiet loglevel=1 panic=0 rdinit=/init ${FAST_BOOT_ARGS}` },
    }));
    const { artifacts, timings } = await runBuildSteps(ctx, { steps: (stageTimes) => steps(stageTimes, use), title: `Building ${ctx.imageName} incrementally`, parts, tools: report.tools }, opts);
    // The cached image is read no more: this one replaces it.
    await use.release();
    await rememberImage(ctx, opts.emit);
    return { artifacts, timings, logDir: ctx.logDir };
  } finally {
    await use.release();
  }
}
