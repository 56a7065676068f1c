// Runs a build's steps (a full build's or an incremental one's) on its context: stage times for
// the manifest, run-start/run-end events, and the artifacts finalise must have made.
import type { EventSink } from '../pipeline/events.js';
import { runSteps, type StepTiming } from '../pipeline/runner.js';
import type { Step } from '../pipeline/step.js';
import type { ToolStatus } from '../tools/host-tools.js';
import type { Artifacts, BuildContext } from './context.js';
import type { InputParts } from './inputs.js';

export async function runBuildSteps(
  ctx: BuildContext,
  o: { steps: (stageTimes: Record<string, number>) => Step<BuildContext>[]; title: string; parts: Omit<InputParts, 'base'>; tools: readonly ToolStatus[] },
  opts: { signal: AbortSignal; emit: EventSink },
): Promise<{ artifacts: Artifacts; timings: StepTiming[] }> {
  ctx.inputParts = o.parts;
  for (const t of o.tools) if (t.version) ctx.toolVersions[t.name] = t.version;
  const stageTimes: Record<string, number> = {};
  const emit: EventSink = (ev) => {
    if (ev.type === 'step-end') stageTimes[ev.step] = ev.ms;
    opts.emit(ev);
  };
  const t0 = Date.now();
  emit({ type: 'run-start', title: o.title, logDir: ctx.logDir });
  try {
    const timings = await runSteps(o.steps(stageTimes), ctx, { signal: opts.signal, logDir: ctx.logDir, emit });
    emit({ type: 'run-end', ok: true, ms: Date.now() - t0 });
    if (!ctx.artifacts) throw new Error('the build finished without artifacts');
    return { artifacts: ctx.artifacts, timings };
  } catch (e) {
    emit({ type: 'run-end', ok: false, ms: Date.now() - t0 });
    throw e;
  }
}
