// The builder: the spec's five stages as one literal list of steps, run by the step runner.
import { join } from 'node:path';
import type { BuildPlan } from '../config/load.js';
import type { EventSink } from '../pipeline/events.js';
import { runSteps, type StepTiming } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import { imageBaseName, type Artifacts, type BuildContext } from './context.js';
import { prepareStep } from './prepare.js';
import { seedStep } from './seed.js';
import { baseImageStep } from './base-image.js';
import { sourceShareStep } from './source-share.js';
import { bootStep } from './boot.js';
import { waitReadyStep } from './wait-ready.js';
import { buildInVmStep } from './build-in-vm.js';
import { variantStep } from './variant.js';
import { goldenCleanupStep, shutdownStep } from './golden.js';
import { finaliseStep } from './finalise.js';

export interface BuildResult {
  artifacts: Artifacts;
  timings: StepTiming[];
  logDir: string;
}

export function buildSteps(stageTimes: Record<string, number>): Step<BuildContext>[] {
  return [
    prepareStep, // 1. environment setup
    seedStep, // 2. cloud-init configuration
    baseImageStep, // 3. base image preparation
    sourceShareStep, // 4. VexFS build in the VM ...
    bootStep,
    waitReadyStep,
    buildInVmStep,
    variantStep,
    goldenCleanupStep, // 5. image finalisation
    shutdownStep,
    finaliseStep(stageTimes),
  ];
}

export function newBuildContext(plan: Readonly<BuildPlan>, now = new Date()): BuildContext {
  const vmDir = join(plan.buildDir, `vm-${plan.variantName}`);
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  return {
    plan,
    startedAt: now,
    vmDir,
    logDir: join(plan.buildDir, 'logs', `${plan.variantName}-${stamp}`),
    imageName: imageBaseName(plan.variantName, plan.version),
    toolVersions: {},
    guest: {},
  };
}

export async function buildImage(plan: Readonly<BuildPlan>, opts: { signal: AbortSignal; emit: EventSink }): Promise<BuildResult> {
  const ctx = newBuildContext(plan);
  const stageTimes: Record<string, number> = {};
  const emit: EventSink = (ev) => {
    if (ev.type === 'step-end') stageTimes[ev.step] = ev.ms;
    opts.emit(ev);
  };
  const t0 = Date.now();
  emit({ type: 'run-start', title: `Building ${ctx.imageName}`, logDir: ctx.logDir });
  try {
    const timings = await runSteps(buildSteps(stageTimes), ctx, { signal: opts.signal, logDir: ctx.logDir, emit });
    emit({ type: 'run-end', ok: true, ms: Date.now() - t0 });
    if (!ctx.artifacts) throw new Error('build finished without artifacts');
    return { artifacts: ctx.artifacts, timings, logDir: ctx.logDir };
  } catch (e) {
    emit({ type: 'run-end', ok: false, ms: Date.now() - t0 });
    throw e;
  }
}
