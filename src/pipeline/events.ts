// Run events: the runner emits them, renderers (ui/) only consume them.
export type RunEvent =
  | { type: 'run-start'; title: string; logDir: string }
  | { type: 'step-start'; step: string; title: string; index: number; total: number }
  | { type: 'step-end'; step: string; ms: number }
  | { type: 'step-fail'; step: string; ms: number; error: unknown }
  | { type: 'step-skip'; step: string; reason: string }
  | { type: 'cleanup-error'; step: string; error: unknown }
  | { type: 'info'; message: string; step?: string }
  | { type: 'warn'; message: string; step?: string }
  | { type: 'run-end'; ok: boolean; ms: number };

export type EventSink = (event: RunEvent) => void;

export const silentSink: EventSink = () => undefined;
