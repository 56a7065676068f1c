// The builder: the spec's five stages as one literal list of steps, run by the step runner. The
// VM's own lifecycle (overlay, seed, boot, SSH, cloud-init, power-off) is the VM session's.
import { join } from 'node:path';
import type { BuildPlan } from '../config/load.js';
import type { EventSink } from '../pipeline/events.js';
import type { StepTiming } from '../pipeline/runner.js';
import { runBuildSteps } from './run.js';
import type { Step } from '../pipeline/step.js';
import { accessSeedStep, bootStep, newSession, overlayStep, powerOffStep, resolveVmProfile, waitCloudInitStep, waitSshStep, type VmProfile } from '../vm/index.js';
import type { VmSessionOptions } from '../vm/session.js';
import { BUILD_USER, imageBaseName, type Artifacts, type BuildContext } from './context.js';
import { JOB_TOOLS } from '../tools/host-tools.js';
import { assertFreeSpace, type SpaceNeed } from '../tools/free-space.js';
import { assertVmBuildTarget, buildLockPath, prepareStep } from './prepare.js';
import { UsageError } from '../errors.js';
import { archFileStem } from '../arch.js';
import { inputsRecord, planParts } from './inputs.js';
import { knownBaseSha256, publishedState } from './up-to-date.js';
import { addFormats, missingFormats } from './add-formats.js';
import type { ImageFormat } from './formats.js';
import { buildSeed } from './seed.js';
import { baseImageStep } from './base-image.js';
import { sourceShareStep } from './source-share.js';
import { buildInVmStep } from './build-in-vm.js';
import { signModulesStep } from './sign.js';
import { variantStep } from './variant.js';
import { goldenCleanupStep } from './golden.js';
import { finaliseStep } from './finalise.js';
import { reportingNoSpace } from './no-space.js';
import { licencesStep, packagesStep } from '../supply/inventory.js';
import { envSourceDateEpoch } from '../supply/source.js';
import { buildIncrementally, chooseIncremental, rememberImage } from './incremental/index.js';
import { payloadFilesStep, retryCold, saveSnapshotStep, warmStartBlocker, warmStartStep } from './warm-start.js';

export interface BuildResult {
  artifacts: Artifacts;
  timings: StepTiming[];
  /** Empty when nothing ran (upToDate). */
  logDir: string;
  /** True: the published image already had this build's inputs; no VM was started. */
  upToDate?: boolean;
  /** Formats asked for that the up-to-date image lacked, written from it (builder/add-formats.ts). */
  addedFormats?: { formats: ImageFormat[]; ms: number };
}

export function buildSteps(stageTimes: Record<string, number>): Step<BuildContext>[] {
  return [
    prepareStep, // 1. environment setup
    baseImageStep, // 3. base image preparation (before the seed: its overlay needs the base)
    warmStartStep, // a cached snapshot of the booted build VM to resume, if any
    overlayStep,
    accessSeedStep, // 2. cloud-init configuration
    sourceShareStep, // 4. VexFS build in the VM ...
    bootStep,
    waitSshStep,
    waitCloudInitStep,
    saveSnapshotStep, // a cold-booted snapshotable VM, saved for the next builds
    payloadFilesStep, // a snapshotable VM's seed has no payload: its files and units, over SSH
    buildInVmStep,
    signModulesStep, // only with signing: in the config
    licencesStep, // SBOM: licences before the variant slims /usr/share/doc away
    variantStep,
    // SBOM: the dpkg database, once the variant has purged and installed what it does; before
    // golden cleanup, which removes the build user's SSH access and changes no package.
    packagesStep,
    goldenCleanupStep, // 5. image finalisation
    powerOffStep,
    reportingNoSpace(finaliseStep(stageTimes)),
  ];
}

/** Per architecture too (amd64's name as before): an arm64 and an amd64 build of a variant may run side by side. */
export const buildVmDir = (plan: Pick<BuildPlan, 'buildDir' | 'variantName' | 'arch'>): string => join(plan.buildDir, `vm-${archFileStem(plan.variantName, plan.arch)}`);

/** sessionFor: another VM than the build VM in the build's VM directory (an incremental build's install VM). */
/** snapshotable: the build VM may be saved as, or resumed from, a snapshot (builder/warm-start.ts). */
export function newBuildContext(plan: Readonly<BuildPlan>, profile: VmProfile, now = new Date(), sessionFor?: (vmDir: string) => VmSessionOptions, snapshotable = false): BuildContext {
  const vmDir = buildVmDir(plan);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const session = newSession(sessionFor?.(vmDir) ?? {
    name: `vexfs-build-${imageBaseName(plan.variantName, plan.version, plan.arch)}`,
    profile,
    dir: vmDir,
    cacheDir: plan.cacheDir,
    user: BUILD_USER,
    seed: buildSeed(plan, now, snapshotable),
    ...(snapshotable ? { snapshotable: true } : {}),
    diskSizeBytes: plan.diskSizeBytes,
    discard: true,
    // apt in the VM (bases from elsewhere get the toolchain from cloud-init's packages:).
    network: 'full',
    // One login, every later command a channel through it: a build runs ~10 commands, and under
    // TCG each login costs the guest a key exchange and a session start (~1-2 s).
    master: true,
    // --timeout covers everything in the VM, counted from power-on.
    bootTimeoutMs: plan.timeoutS * 1000,
    timeoutHint: `pass a larger --timeout, e.g. --timeout ${plan.timeoutS * 2}`,
    cloudInitErrors: 'fail',
    powerOff: { acpiTimeoutMs: 120_000 },
    killOnAbort: true,
  });
  return {
    plan,
    startedAt: now,
    vmDir,
    logDir: join(plan.buildDir, 'logs', `${plan.variantName}-${stamp}`),
    imageName: imageBaseName(plan.variantName, plan.version, plan.arch),
    session,
    toolVersions: {},
    guest: {},
    ...(snapshotable ? { warm: { key: '' } } : {}),
  };
}

/**
 * What a build writes, roughly: the published image and its .gz (a minimal image is ~170 MiB
 * each), and the build VM's overlay and source copy (a development build's overlay peaks at ~1 GiB).
 */
export const BUILD_SPACE = Object.freeze({ outputBytes: 512 * 2 ** 20, buildDirBytes: 1536 * 2 ** 20 });

export function buildSpaceNeeds(plan: Pick<BuildPlan, 'outputDir' | 'buildDir'>): SpaceNeed[] {
  return [
    { path: plan.outputDir, bytes: BUILD_SPACE.outputBytes, what: 'the image and its .gz', flag: '--output-dir' },
    { path: plan.buildDir, bytes: BUILD_SPACE.buildDirBytes, what: "the build VM's disk", flag: '--build-dir' },
  ];
}

export interface BuildImageOptions {
  signal: AbortSignal;
  emit: EventSink;
}

export async function buildImage(plan: Readonly<BuildPlan>, opts: BuildImageOptions): Promise<BuildResult> {
  // Bad input before anything is probed, written or started.
  assertVmBuildTarget(plan.sourceDir, plan.payload);
  const imageName = imageBaseName(plan.variantName, plan.version, plan.arch);
  // The inputs digest, before anything is written or booted; an image with the same one is kept.
  const parts = await planParts(plan);
  const baseSha256 = await knownBaseSha256(plan, { signal: opts.signal });
  if (!plan.force) {
    const inputs = inputsRecord(parts, baseSha256 ?? null);
    const published = await publishedState(plan.outputDir, imageName, inputs);
    if (published.state === 'up-to-date') {
      const missing = await missingFormats(plan.outputDir, published.manifest, plan.formats);
      if (!missing.length) return { artifacts: published.artifacts, timings: [], logDir: '', upToDate: true };
      // Only the formats: everything else this build would make is published already.
      const added = await addFormats({
        outputDir: plan.outputDir,
        lockFile: buildLockPath(plan.buildDir, buildVmDir(plan)),
        variantName: plan.variantName,
        imageName,
        manifestPath: published.artifacts.manifestJson,
        formats: missing,
        signal: opts.signal,
        onInfo: (message) => opts.emit({ type: 'info', step: 'add-formats', message }),
      });
      return { artifacts: { ...published.artifacts, formats: added.formats }, timings: [], logDir: '', upToDate: true, addedFormats: { formats: missing, ms: added.ms } };
    }
    if (published.state === 'stale') {
      // Like mkosi and Packer, a published image is never replaced unasked: it may have shipped.
      throw new UsageError(`${join(plan.outputDir, `${imageName}.qcow2`)} already exists and is not up to date: ${published.why}`, { hint: 'pass --force to rebuild it, or choose another --version or --output-dir' });
    }
  }
  envSourceDateEpoch(process.env);
  await assertFreeSpace(buildSpaceNeeds(plan));
  const info = (message: string): void => opts.emit({ type: 'info', step: 'incremental', message });
  const choice = await chooseIncremental(plan, parts, baseSha256, { signal: opts.signal, onInfo: info });
  if (choice.use) return buildIncrementally(plan, choice, parts, (profile, sessionFor) => newBuildContext(plan, profile, new Date(), sessionFor), opts);
  if (choice.eligible) info(`a full build: ${choice.why}`);
  const { profile, report } = await resolveVmProfile({ memoryMb: plan.memoryMb, cpus: plan.cpus, cacheDir: plan.cacheDir, tools: JOB_TOOLS.build, hardware: { arch: plan.arch }, signal: opts.signal });
  const noWarm = warmStartBlocker(plan, profile);
  if (noWarm && plan.snapshot) opts.emit({ type: 'info', step: 'warm-start', message: `the build VM boots cold: ${noWarm}` });
  const run = async (snapshotable: boolean, retried = false): Promise<BuildResult & { ctx: BuildContext }> => {
    const ctx = newBuildContext(plan, profile, new Date(), undefined, snapshotable);
    try {
      const { artifacts, timings } = await runBuildSteps(ctx, { steps: buildSteps, title: `Building ${ctx.imageName}`, parts, tools: report.tools }, opts);
      return { artifacts, timings, logDir: ctx.logDir, ctx };
    } catch (e) {
      // A snapshot that would not resume is dropped and the build boots cold (and saves a new one).
      if (!retried && !opts.signal.aborted && (await retryCold(ctx, e))) {
        opts.emit({ type: 'info', step: 'warm-start', message: `the snapshot did not resume (${(e as Error).message.split('\n')[0]}); dropped it, booting cold` });
        return run(snapshotable, true);
      }
      throw e;
    }
  };
  const { ctx, ...result } = await run(!noWarm);
  // The next build of these inputs with another source can start from this image.
  await rememberImage(ctx, opts.emit);
  return result;
}
