// The CI's own stages (environment, pre-build, build, validate, artifacts, report, notify): the
// records of the manifest and the summary table, made from the runner's events of the CI steps.
import type { RunEvent } from '../pipeline/events.js';
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

const ORDER = Object.keys(STAGE_TITLES);

/** Stages recorded by another stage's step: validation runs in the build step's lanes. */
const COMPANIONS: Readonly<Record<string, readonly string[]>> = Object.freeze({ build: ['validate'] });

type StageFields = Partial<Pick<StageRecord, 'status' | 'started_at' | 'duration_ms' | 'detail'>>;

export class StageRecorder {
  private readonly list: StageRecord[] = [];
  private readonly starts = new Map<string, number>();
  private readonly described = new Map<string, StageFields>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The runner's events of the CI steps (events of other step names are ignored). */
  observe(ev: RunEvent): void {
    if (!('step' in ev) || ev.step === undefined || !(ev.step in STAGE_TITLES)) return;
    const name = ev.step;
    switch (ev.type) {
      case 'step-start':
        this.starts.set(name, this.now());
        return;
      case 'step-end':
      case 'step-fail': {
        const t0 = this.starts.get(name) ?? this.now() - ev.ms;
        const failed = ev.type === 'step-fail';
        this.add({
          name,
          title: STAGE_TITLES[name]!,
          status: failed ? 'failed' : 'ok',
          started_at: new Date(t0).toISOString(),
          duration_ms: ev.ms,
          detail: failed ? errorMessage(ev.error).split('\n')[0]! : '',
          ...this.described.get(name),
        });
        return;
      }
      case 'step-skip':
        for (const n of [name, ...(COMPANIONS[name] ?? [])]) this.add({ name: n, title: STAGE_TITLES[n]!, status: 'skipped', started_at: null, duration_ms: 0, detail: ev.reason });
        return;
      default:
        return;
    }
  }

  /**
   * A step's own account of its stage: the detail line (also when it fails), and for a stage
   * whose work is spread over parallel lanes, its span and status.
   */
  describe(name: string, fields: StageFields): void {
    this.described.set(name, { ...this.described.get(name), ...fields });
  }

  /** A stage recorded outright (validate, by the build step). */
  add(record: StageRecord): void {
    this.list.push(record);
  }

  status(name: string): StageRecord['status'] | undefined {
    return this.list.find((r) => r.name === name)?.status;
  }

  /** In pipeline order, whatever order they finished in. */
  get records(): StageRecord[] {
    return [...this.list].sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
  }
}
