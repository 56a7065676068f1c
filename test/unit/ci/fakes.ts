// Fake build / validate / doctor for the CI orchestrator's unit tests: the build writes small
// image files with the real names, the validation returns a result with a few checks.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CiDeps } from '../../../src/ci/orchestrator.js';
import type { BuildFn, ValidateFn } from '../../../src/ci/variant-run.js';
import type { DoctorReport } from '../../../src/doctor.js';
import { summarizeChecks, imageStatus, type CheckResult, type ImageResult } from '../../../src/report/model.js';
import type { BuildResult } from '../../../src/builder/index.js';
import { imageBaseName } from '../../../src/builder/context.js';
import type { BuildPlan } from '../../../src/config/load.js';

const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const okDoctor: DoctorReport = {
  ok: true,
  tools: [],
  missingPackages: [],
  accelerator: {
    kvm: { accel: 'kvm', usable: false, reason: 'test: too slow' },
    tcg: { accel: 'tcg', usable: true, reason: 'test' },
    chosen: 'tcg',
    key: 'test',
    probedAt: new Date(0).toISOString(),
    cached: true,
  } as unknown as DoctorReport['accelerator'],
  ms: 1,
};

export interface FakeOptions {
  /** Variants whose build throws. */
  failBuild?: string[];
  /** Variants whose validation has a failing check. */
  failCheck?: string[];
  /** Matrix profiles (labels) under which the validation has a failing check. */
  failProfile?: string[];
  /** Per-step delay of the fake build (ms). */
  stepMs?: number;
  /** Records [variant, 'start'|'end'] for concurrency assertions. */
  trace?: Array<[string, string, number]>;
  /** Every plan the fake build was given. */
  plans?: BuildPlan[];
}

export function fakeBuild(o: FakeOptions = {}): BuildFn {
  return async (plan, { signal, emit }) => {
    o.plans?.push(plan);
    const name = imageBaseName(plan.variantName, plan.version, plan.arch);
    const logDir = join(plan.buildDir, 'logs', `${plan.variantName}-test`);
    await mkdir(logDir, { recursive: true });
    await writeFile(join(logDir, '01-environment.log'), `build log of ${plan.variantName}\n`);
    emit({ type: 'run-start', title: `Building ${name}`, logDir });
    o.trace?.push([plan.variantName, 'start', Date.now()]);
    const steps = ['environment', 'boot', 'build-in-vm', 'finalise'];
    for (const [i, step] of steps.entries()) {
      emit({ type: 'step-start', step, title: step, index: i, total: steps.length });
      const t = Date.now();
      for (let waited = 0; waited < (o.stepMs ?? 5); waited += 5) {
        if (signal.aborted) {
          emit({ type: 'step-fail', step, ms: Date.now() - t, error: new Error('interrupted') });
          const { AbortedError } = await import('../../../src/errors.js');
          throw new AbortedError();
        }
        await sleep(5);
      }
      if (step === 'build-in-vm' && o.failBuild?.includes(plan.variantName)) {
        emit({ type: 'step-fail', step, ms: Date.now() - t, error: new Error('make vm-build failed') });
        o.trace?.push([plan.variantName, 'end', Date.now()]);
        throw new Error(`the guest build (make vm-build) failed in the VM\nvexfs.c:42: error: deliberate`);
      }
      emit({ type: 'step-end', step, ms: Date.now() - t });
    }
    await mkdir(plan.outputDir, { recursive: true });
    const image = join(plan.outputDir, `${name}.qcow2`);
    const gz = `${image}.gz`;
    const imageData = `qcow2 of ${plan.variantName} ${plan.version}\n`.repeat(100);
    const gzData = `gz of ${plan.variantName}\n`;
    await writeFile(image, imageData);
    await writeFile(gz, gzData);
    await writeFile(`${image}.sha256`, `${sha(imageData)}  ${name}.qcow2\n`);
    await writeFile(`${gz}.sha256`, `${sha(gzData)}  ${name}.qcow2.gz\n`);
    await writeFile(join(plan.outputDir, `${name}.json`), JSON.stringify({ variant: plan.variantName, version: plan.version, architecture: plan.arch ?? 'amd64', files: { image: { name: `${name}.qcow2`, sha256: sha(imageData) } } }));
    await writeFile(join(plan.outputDir, `${name}.manifest`), `VexFS image manifest\n`);
    // The supply-chain files finalise publishes beside the image (src/supply).
    for (const suffix of ['.spdx.json', '.cdx.json', '.intoto.json']) await writeFile(join(plan.outputDir, `${name}${suffix}`), `{"fake": "${suffix}"}\n`);
    o.trace?.push([plan.variantName, 'end', Date.now()]);
    const result: BuildResult = {
      artifacts: {
        image,
        imageSha256: sha(imageData),
        imageSize: imageData.length,
        compressed: gz,
        compressedSha256: sha(gzData),
        compressedSize: gzData.length,
        manifestJson: join(plan.outputDir, `${name}.json`),
        manifestText: join(plan.outputDir, `${name}.manifest`),
      },
      timings: steps.map((step) => ({ step, ms: 5, status: 'ok' as const })),
      logDir,
    };
    return result;
  };
}

export function fakeValidate(o: FakeOptions = {}): ValidateFn {
  return async (image, { emit, signal, profile }) => {
    emit({ type: 'step-start', step: `x:boot`, title: 'Boot', index: 0, total: 2 });
    await sleep(o.stepMs ?? 5);
    emit({ type: 'step-end', step: `x:boot`, ms: o.stepMs ?? 5 });
    emit({ type: 'step-start', step: `x:checks`, title: 'Checks', index: 1, total: 2 });
    if (signal.aborted) throw new Error('aborted');
    emit({ type: 'step-end', step: `x:checks`, ms: 1 });
    const fail = o.failCheck?.includes(image.variant) || (profile !== undefined && o.failProfile?.includes(profile.label));
    const checks: CheckResult[] = [
      { id: 'module-available', description: 'modinfo vexfs', group: 'vexfs', type: 'kernel-module', severity: 'error', status: 'passed', message: 'ok', durationMs: 3, attempts: 1 },
      { id: 'vexctl-version', description: 'vexctl --version', group: 'vexfs', type: 'command', severity: 'error', status: fail ? 'failed' : 'passed', message: fail ? 'exit 1' : 'ok', durationMs: 2, attempts: 1 },
      { id: 'log-file', description: 'log file', group: 'system', type: 'file', severity: 'warning', status: 'passed', message: 'ok', durationMs: 1, attempts: 1 },
    ];
    const name = image.path.split('/').pop()!.replace(/\.qcow2$/, '');
    const r: ImageResult = {
      name,
      path: image.path,
      variant: image.variant,
      version: image.version,
      identitySource: 'manifest',
      status: imageStatus(checks, undefined),
      accel: 'tcg',
      ...(profile ? { profile: profile.label } : {}),
      startedAt: new Date().toISOString(),
      timings: { sshReadyMs: 1, cloudInitDoneMs: 2, checksMs: 6, totalMs: 10, steps: [{ step: 'boot', ms: 5, status: 'ok' }] },
      cloudInit: { status: 'done' },
      checks,
      summary: summarizeChecks(checks),
    };
    return r;
  };
}

export function fakeDeps(o: FakeOptions = {}, extra: Partial<CiDeps> = {}): CiDeps {
  return {
    doctor: async () => okDoctor,
    build: fakeBuild(o),
    makeValidate: () => fakeValidate(o),
    checkScripts: async () => ({ scripts: 7, shellcheck: 'passed' }),
    gitHead: async () => 'a'.repeat(40),
    ...extra,
  };
}
