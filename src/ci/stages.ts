// The CI's own stages (environment, pre-build, build, validate, artifacts, report, notify):
// each timed, recorded for the manifest and the summary table, and shown by the renderers.
import type { EventSink } from '../pipeline/events.js';
import { errorMessage } from '../ui/format.js';
import type { StageRecord } from './manifest.js';

export const STAGE_TITLES: Readonly<Record<string, string>> = Object.freeze({
  environment: 'Environment setup',
  'pre-build': 'Pre-build checks',
  build: 'Build images',
  validate: 'Validate images',
  artifacts: 'Artifacts',
  report: 'Reports',
  notify: 'Notification',
  merge: 'Merge shards',
});

export class StageLog {
  readonly records: StageRecord[] = [];
  private index = 0;

  constructor(
    private readonly emit: EventSink,
    private readonly total: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs fn as a stage; returns its detail on success, undefined (recorded as failed) on error. */
  async run(name: string, fn: () => Promise<string>): Promise<{ ok: boolean; error?: unknown }> {
    const title = STAGE_TITLES[name] ?? name;
    const t0 = this.now();
    this.emit({ type: 'step-start', step: name, title, index: this.index++, total: this.total });
    try {
      const detail = await fn();
      const ms = this.now() - t0;
      this.records.push({ name, title, status: 'ok', started_at: new Date(t0).toISOString(), duration_ms: ms, detail });
      this.emit({ type: 'step-end', step: name, ms });
      return { ok: true };
    } catch (e) {
      const ms = this.now() - t0;
      this.records.push({ name, title, status: 'failed', started_at: new Date(t0).toISOString(), duration_ms: ms, detail: errorMessage(e).split('\n')[0]! });
      this.emit({ type: 'step-fail', step: name, ms, error: e });
      return { ok: false, error: e };
    }
  }

  /** Records a stage whose outcome was decided elsewhere (build, validate: spans of parallel work). */
  record(name: string, status: StageRecord['status'], startedAt: number | null, ms: number, detail: string): void {
    const title = STAGE_TITLES[name] ?? name;
    this.records.push({ name, title, status, started_at: startedAt === null ? null : new Date(startedAt).toISOString(), duration_ms: ms, detail });
    if (status === 'skipped') this.emit({ type: 'step-skip', step: name, reason: detail });
    this.index++;
  }

  skip(name: string, reason: string): void {
    this.record(name, 'skipped', null, 0, reason);
  }

  get nextIndex(): number {
    return this.index;
  }

  bump(): number {
    return this.index++;
  }
}
