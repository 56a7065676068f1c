// The quick module test (`vexfs-image test`): the payload built natively against the image's own
// kernel headers (compile.ts, in the image's root copied out once: root.ts), then the image's
// kernel booted straight into a busybox initramfs (no GRUB, cloud-init or SSH) through the VM
// session's boot step, where the module's load, filesystem and unload checks run and report on
// the serial console; the same JSON and JUnit reports as validate. It complements validate's full
// boot of the deployable image and never replaces it.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { BuildPlan } from '../config/load.js';
import { PreconditionError, GuestError, UsageError } from '../errors.js';
import { PACKAGE_VERSION } from '../paths.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { buildReport, imageStatus, summarizeChecks, type CheckResult, type ImageError, type ValidationReport } from '../report/model.js';
import { writeReports, type ReportFormat } from '../report/write.js';
import { resolveBase } from '../base/index.js';
import { knownBaseSha256 } from '../builder/up-to-date.js';
import { sha256File } from '../tools/hash.js';
import { which } from '../tools/host-tools.js';
import { imageInfo } from '../tools/qemu-img.js';
import { identifyImage } from '../validate/discover.js';
import { VmExitedError } from '../tools/qemu.js';
import { bootStep, newSession, powerOffStep, resolveVmProfile, type VmSession } from '../vm/index.js';
import { FAST_BOOT_ARGS, serialLogOf, type HasSession } from '../vm/session.js';
import { compilePayload, type BuiltPayload } from './compile.js';
import { makeInitramfs } from './initramfs.js';
import { parseConsole, type ParsedConsole } from './result.js';
import { cachedRoot, kernelRoot, type KernelRoot } from './root.js';

export interface QuickTestOptions {
  plan: Readonly<BuildPlan>;
  /** An image to take the kernel and headers from (default: the build's base for plan). */
  image?: string;
  reportDir: string;
  formats: readonly ReportFormat[];
  /** Power-on to the guest's result. */
  timeoutS: number;
  busybox?: string;
  signal: AbortSignal;
  emit: EventSink;
}

export interface QuickTestResult {
  ok: boolean;
  report: ValidationReport;
  reports: Record<string, string>;
  kernelRelease: string;
  /** Where the time went: root (cached after the first run), compile, initramfs, boot to result. */
  phasesMs: Record<string, number>;
}

export const QUICK_DEFAULTS = Object.freeze({ reportDir: 'quick-test-report', timeoutS: 120, memoryMb: 512, cpus: 1 });
const DEFAULT_BUSYBOX = '/bin/busybox';

interface QuickContext extends HasSession {
  console?: ParsedConsole;
}

/** Until the guest's QUICK-RESULT line, its power-off, a fatal console pattern or the deadline. */
const waitResultStep: Step<QuickContext> = {
  name: 'wait-result',
  title: 'Module checks in the guest',
  async run(ctx, rt) {
    const s = ctx.session;
    const deadline = (s.poweredOnAt ?? Date.now()) + s.opts.bootTimeoutMs;
    for (;;) {
      const serial = await readFile(serialLogOf(s), 'utf8').catch(() => '');
      if (/^QUICK-RESULT /m.test(serial) || !s.vm?.isRunning()) {
        // The guest powers itself off after its result; give the last lines a moment to land.
        if (s.vm?.isRunning()) await new Promise((r) => setTimeout(r, 50));
        ctx.console = parseConsole(await readFile(serialLogOf(s), 'utf8').catch(() => serial));
        if (!ctx.console.finished) await s.vm?.assertHealthy();
        return;
      }
      await s.vm?.assertHealthy();
      if (Date.now() > deadline) throw new VmExitedError(`no result from the guest within ${Math.round(s.opts.bootTimeoutMs / 1000)} s of power-on`, s.opts.timeoutHint, 'timeout', await s.vm?.serialTail(30));
      if (rt.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  },
};

/** The image whose kernel and headers are used: the given one, or the build's base (cached). */
async function sourceImage(o: QuickTestOptions, info: (m: string) => void): Promise<{ path: string; format: string; sha256: string; root?: KernelRoot }> {
  if (o.image) {
    if (!existsSync(o.image)) throw new UsageError(`image ${o.image} does not exist`);
    const st = await stat(o.image);
    if (!st.isFile()) throw new UsageError(`image ${o.image} is not a file`);
    // The payload is compiled natively in the image's root and its kernel booted by qemu-system-x86_64.
    const arch = identifyImage(o.image).arch;
    if (arch !== 'amd64') throw new UsageError(`the quick test runs amd64 images only (it builds on this host and boots the kernel directly); ${o.image} is ${arch}: use validate`);
    const i = await imageInfo(o.image, { signal: o.signal });
    return { path: o.image, format: i.format, sha256: await sha256File(o.image) };
  }
  // A root already extracted from this base: no need to verify the base again (it is not read).
  const known = await knownBaseSha256(o.plan, { signal: o.signal });
  const root = known ? await cachedRoot(o.plan.cacheDir, known) : undefined;
  if (root && known) return { path: o.plan.base, format: 'qcow2', sha256: known, root };
  const base = await resolveBase(o.plan.base, { cacheDir: o.plan.cacheDir, signal: o.signal, onInfo: info, debian: { extraPackages: o.plan.preinstall } });
  return { path: base.path, format: base.format, sha256: base.digest.replace(/^sha256:/, '') };
}

export async function quickTest(o: QuickTestOptions): Promise<QuickTestResult> {
  if (!o.image && o.plan.arch !== 'amd64') throw new UsageError(`the quick test runs amd64 only (it builds on this host and boots the kernel directly), not ${o.plan.arch}: use build and validate`);
  const busybox = o.busybox ?? DEFAULT_BUSYBOX;
  if (!existsSync(busybox)) throw new PreconditionError(`${busybox} not found: the quick test's initramfs needs a static busybox`, { hint: 'apt-get install busybox-static' });
  for (const t of ['debugfs', 'sfdisk', 'unshare', 'chroot']) if (!which(t)) throw new PreconditionError(`${t} not found`, { hint: 'apt-get install e2fsprogs fdisk util-linux coreutils' });
  if (process.getuid?.() !== 0) throw new PreconditionError('the quick test builds in a chroot of the image\'s root: run it as root');
  const info = (message: string): void => o.emit({ type: 'info', message });
  const startedAt = new Date();
  const phasesMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await f();
    } finally {
      phasesMs[name] = Date.now() - t0;
    }
  };
  const work = await mkdtemp(join(tmpdir(), 'vexfs-quick-'));
  let checks: CheckResult[] = [];
  let error: ImageError | undefined;
  let kernelRelease = '';
  let imagePath = o.image ?? o.plan.base;
  let accel = 'unknown';
  try {
    const img = await timed('image', () => sourceImage(o, info));
    imagePath = img.path;
    const root = img.root ?? (await timed('root', () => kernelRoot(img, o.plan.cacheDir, { signal: o.signal, logFile: join(work, 'extract.log'), onInfo: info })));
    kernelRelease = root.kernelRelease;
    let built: BuiltPayload | undefined;
    try {
      built = await timed('compile', () => compilePayload(root, o.plan.sourceDir, o.plan.payload, o.plan.version, { signal: o.signal, logFile: join(work, 'compile.log') }));
    } catch (e) {
      if (!(e instanceof GuestError)) throw e;
      checks = [{ id: 'build', group: 'build', description: `${o.plan.payload.buildCommand} against ${kernelRelease}'s headers`, type: 'quick', severity: 'error', status: 'failed', message: e.message.split('\n')[0]!, output: e.message, durationMs: phasesMs.compile ?? 0, attempts: 1 }];
    }
    if (built) {
      const buildChecks: CheckResult[] = [
        { id: 'build', group: 'build', description: `${o.plan.payload.buildCommand} against ${kernelRelease}'s headers`, type: 'quick', severity: 'error', status: 'passed', message: `built ${[...built.modules, ...built.tools].map((x) => x.name).join(', ')}`, durationMs: phasesMs.compile ?? 0, attempts: 1 },
        ...built.missing.map((m): CheckResult => ({ id: `built-${m.replace(' ', '-')}`, group: 'build', description: `the build produced ${m}`, type: 'quick', severity: m.startsWith('tool') && !o.plan.payload.tools.find((t) => `tool ${t.name}` === m)?.required ? 'warning' : 'error', status: 'failed', message: 'no file matches its path glob', durationMs: 0, attempts: 1 })),
      ];
      const initrd = join(work, 'initramfs.cpio.gz');
      await timed('initramfs', async () => writeFile(initrd, await makeInitramfs(built, root.dir, o.plan.version, busybox)));
      const { profile } = await resolveVmProfile({ memoryMb: QUICK_DEFAULTS.memoryMb, cpus: QUICK_DEFAULTS.cpus, cacheDir: o.plan.cacheDir, signal: o.signal, neededToolsOnly: true });
      accel = profile.accel;
      const session: VmSession = newSession({
        name: 'vexfs-quick',
        profile,
        dir: work,
        user: 'root',
        seed: () => {
          throw new Error('the quick test boots without a seed');
        },
        bootTimeoutMs: o.timeoutS * 1000,
        timeoutHint: `pass a larger --timeout, e.g. --timeout ${o.timeoutS * 2}`,
        network: 'isolated',
        cloudInitErrors: 'record',
        powerOff: 'kill',
        killOnAbort: true,
        // quiet: warnings are the guest's own kernel-log check; panic=0: hang (seen) rather than reboot.
        directKernel: { kernel: root.kernel, initrd, append: `console=ttyS0 quiet panic=0 rdinit=/init ${FAST_BOOT_ARGS}` },
      });
      const ctx: QuickContext = { session };
      try {
        await timed('boot', () => runSteps([bootStep, waitResultStep, powerOffStep], ctx, { signal: o.signal, logDir: join(work, 'logs'), emit: o.emit }));
      } catch (e) {
        if (!(e instanceof VmExitedError)) throw e;
        error = { kind: e.kind, step: 'boot', message: e.message.split('\n')[0]!, ...(e.serialTail ? { serialTail: e.serialTail } : {}) };
      }
      checks = [...buildChecks, ...(ctx.console?.checks ?? [])];
      if (!error && !ctx.console?.finished) error = { kind: 'no result', step: 'wait-result', message: 'the guest ended without its QUICK-RESULT line', serialTail: (await session.vm?.serialTail(30)) ?? '' };
      if (o.reportDir) {
        await mkdir(o.reportDir, { recursive: true });
        await copyFile(serialLogOf(session), join(o.reportDir, 'serial.log')).catch(() => undefined);
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const finishedAt = new Date();
  const image = {
    name: `quick-${basename(imagePath).replace(/\.qcow2$/, '')}`,
    path: imagePath,
    variant: o.plan.variantName,
    version: o.plan.version,
    identitySource: 'unknown' as const,
    status: imageStatus(checks, error),
    accel,
    startedAt: startedAt.toISOString(),
    timings: { sshReadyMs: null, cloudInitDoneMs: null, checksMs: phasesMs.boot ?? null, totalMs: finishedAt.getTime() - startedAt.getTime(), steps: Object.entries(phasesMs).map(([step, ms]) => ({ step, ms, status: 'ok' as const })) },
    cloudInit: null,
    ...(error ? { error } : {}),
    checks,
    summary: summarizeChecks(checks),
  };
  const report = buildReport([image], { startedAt, finishedAt, toolVersion: PACKAGE_VERSION, options: { bootTimeoutS: o.timeoutS, sshTimeoutS: 0, jobs: 1, accel } });
  const reports = o.formats.length ? await writeReports(report, { dir: o.reportDir, formats: o.formats }) : {};
  return { ok: report.ok, report, reports, kernelRelease, phasesMs };
}
