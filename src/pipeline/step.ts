// The step contract (after Packer's multistep): run, and an optional cleanup that the runner
// calls for every step that started — in reverse order, on success, failure and abort alike.
import type { EventSink } from './events.js';

export interface StepRuntime {
  /** Aborted on SIGINT/SIGTERM or when the run fails elsewhere (ci --fail-fast). */
  signal: AbortSignal;
  /** This step's own log file inside the run's log directory. */
  logFile: string;
  emit: EventSink;
  info(message: string): void;
  warn(message: string): void;
}

export interface Step<C> {
  /** Stable kebab-case id: used for log file names and timings. */
  name: string;
  /** What the progress display shows. */
  title: string;
  /** Returns a reason to skip, or undefined to run. */
  skip?(ctx: C): string | undefined;
  run(ctx: C, rt: StepRuntime): Promise<void>;
  /**
   * Must cope with a half-finished run and be safe to call twice; throwing only logs. Its
   * rt.signal is never the run's (already aborted after Ctrl-C) signal, so it can still exec.
   */
  cleanup?(ctx: C, rt: StepRuntime): Promise<void>;
}
