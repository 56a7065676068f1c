// Stage 4c: mount the source read-only, copy it to /usr/src/vexfs, build the payload, install it,
// check each module's vermagic and smoke-test it (guest/build/*.sh).
import { UsageError } from '../errors.js';
import type { Step } from '../pipeline/step.js';
import { GUEST_SOURCE_MOUNT, SOURCE_DISK_SERIAL, SOURCE_MOUNT_TAG, type BuildContext, type GuestFacts, type InstalledArtifact } from './context.js';
import { timeLeftMs } from '../vm/session.js';
import { numberedResults, runGuestScript } from './guest-run.js';
import { payloadSpec } from './payload-spec.js';
import { sourceDateEpoch, sourceFacts } from '../supply/source.js';
import { streamSource } from './warm-start.js';

/** Where build-payload.sh builds in the guest (its $dest). */
export const GUEST_BUILD_DIR = '/usr/src/vexfs';

/** `result.artifact_N=kind<TAB>name<TAB>path<TAB>size<TAB>sha256<TAB>vermagic` lines, in order. */
export function parseArtifacts(results: Record<string, string>): InstalledArtifact[] {
  return numberedResults(results, 'artifact').map(([kind, name, path, size, sha256, vermagic]) => ({
    kind: kind as InstalledArtifact['kind'],
    name: name ?? '',
    path: path ?? '',
    size: Number(size),
    sha256: sha256 ?? '',
    ...(vermagic ? { vermagic } : {}),
  }));
}

/** The build ended without a declared artifact: which, where the script looked, what it found. */
export function missingArtifactError(results: Record<string, string>, buildCommand: string): UsageError | undefined {
  if (!results.missing) return undefined;
  const ko = results.produced_ko || 'none';
  const exe = results.produced_exe || 'none';
  return new UsageError(
    `the build (${buildCommand}) did not produce ${results.missing.split(',').join(', ')}: looked in ${results.looked_in}, which holds .ko files: ${ko}; executables: ${exe}`,
    { hint: 'set payload.modules[].path / payload.tools[].path (globs relative to the build directory) in vexfs-image.yaml, or pass --module with the names the build makes' },
  );
}

export const buildInVmStep: Step<BuildContext> = {
  name: 'build-in-vm',
  title: 'Build and install the payload in the VM',
  async run(ctx, rt) {
    const ssh = ctx.session.ssh;
    if (!ssh) throw new Error('build-in-vm: no SSH target');
    let source = GUEST_SOURCE_MOUNT;
    if (ctx.warm) {
      // Straight into the build directory; build-payload.sh's "-" skips its own copy.
      await streamSource(ssh, ctx.plan.sourceDir, GUEST_BUILD_DIR, { signal: rt.signal, logFile: rt.logFile, timeoutMs: 600_000 });
      ctx.guest.sourceTransport = 'ssh';
      source = '-';
      rt.info(`source copied into ${GUEST_BUILD_DIR} over SSH`);
    } else {
      const mount = await runGuestScript(ssh, 'mount-source.sh', [GUEST_SOURCE_MOUNT, SOURCE_MOUNT_TAG, SOURCE_DISK_SERIAL], rt, {
        timeoutMs: 120_000,
        what: 'mounting the source',
      });
      ctx.guest.sourceTransport = mount.stdout.includes('transport=virtfs') ? 'virtfs' : 'disk';
      rt.info(`source mounted read-only over ${ctx.guest.sourceTransport}`);
    }
    const payload = ctx.plan.payload;
    const r = await runGuestScript(ssh, 'build-payload.sh', ['all', source, ctx.plan.version, await buildSpec(ctx.plan, rt.signal)], rt, {
      timeoutMs: timeLeftMs(ctx.session, 'building the payload'),
      what: `the guest build (${payload.buildCommand})`,
    });
    const missing = missingArtifactError(r.results, payload.buildCommand);
    if (missing) throw missing;
    setInstalledFacts(ctx.guest, r.results);
    rt.info(`${payload.modules.map((m) => `${m.name}.ko`).join(', ')} ${ctx.guest.moduleVersion ?? ''} for ${ctx.guest.kernel}`);
  },
};

/** The payload spec build-payload.sh reads, SOURCE_DATE_EPOCH (the source commit's time unless set) in its environment. */
export async function buildSpec(plan: Pick<BuildContext['plan'], 'payload' | 'sourceDir' | 'version'>, signal?: AbortSignal): Promise<string> {
  const epoch = sourceDateEpoch(process.env, await sourceFacts(plan.sourceDir, signal));
  const env = epoch !== undefined ? { SOURCE_DATE_EPOCH: String(epoch), ...plan.payload.env } : plan.payload.env;
  return payloadSpec({ ...plan.payload, env }, plan.version);
}

/** The install half's result lines as the manifest's facts. */
export function setInstalledFacts(guest: GuestFacts, results: Record<string, string>): void {
  guest.kernel = results.kernel;
  guest.vermagic = results.vermagic;
  guest.moduleSha256 = results.module_sha256;
  guest.vexctlSha256 = results.vexctl_sha256;
  guest.moduleVersion = results.module_version;
  guest.artifacts = parseArtifacts(results);
}
