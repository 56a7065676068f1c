// Progress renderers. They only consume run events (pipeline/events.ts) and write to stderr:
// a live list with spinners on a TTY, timestamped plain lines in CI logs, nothing in tests.
import { createLogUpdate } from 'log-update';
import spinners from 'cli-spinners';
import pc from 'picocolors';
import type { EventSink, RunEvent } from '../pipeline/events.js';
import { errorMessage, formatDuration } from './format.js';

export interface Renderer {
  sink: EventSink;
  /** Stops timers and leaves the final state on screen. */
  done(): void;
}

export type RendererKind = 'tty' | 'plain' | 'silent';

export function chooseRenderer(opts: { stream?: NodeJS.WriteStream; env?: NodeJS.ProcessEnv; quiet?: boolean }): RendererKind {
  const env = opts.env ?? process.env;
  if (opts.quiet) return 'silent';
  const stream = opts.stream ?? process.stderr;
  if (!stream.isTTY || env.CI === 'true' || env.CI === '1' || env.TERM === 'dumb') return 'plain';
  return 'tty';
}

export function createRenderer(kind: RendererKind, stream: NodeJS.WritableStream = process.stderr): Renderer {
  if (kind === 'silent') return { sink: () => undefined, done: () => undefined };
  if (kind === 'plain') return plainRenderer(stream);
  return ttyRenderer(stream as NodeJS.WriteStream);
}

function firstLine(e: unknown): string {
  return errorMessage(e).split('\n')[0] ?? '';
}

export function plainLine(ev: RunEvent, now = new Date()): string | undefined {
  const ts = now.toISOString().slice(11, 19);
  switch (ev.type) {
    case 'run-start':
      return `[${ts}] ${ev.title} (logs: ${ev.logDir})`;
    case 'step-start':
      return `[${ts}] [${ev.index + 1}/${ev.total}] ${ev.title} ...`;
    case 'step-end':
      return `[${ts}] ${pc.green('ok')}   ${ev.step} (${formatDuration(ev.ms)})`;
    case 'step-fail':
      return `[${ts}] ${pc.red('FAIL')} ${ev.step} (${formatDuration(ev.ms)}): ${firstLine(ev.error)}`;
    case 'step-skip':
      return `[${ts}] skip ${ev.step}: ${ev.reason}`;
    case 'cleanup-error':
      return `[${ts}] ${pc.yellow('warning')}: cleanup of ${ev.step} failed: ${firstLine(ev.error)}`;
    case 'info':
      return `[${ts}]      ${ev.message}`;
    case 'warn':
      return `[${ts}] ${pc.yellow('warning')}: ${ev.message}`;
    case 'run-end':
      return `[${ts}] ${ev.ok ? pc.green('done') : pc.red('failed')} in ${formatDuration(ev.ms)}`;
  }
}

function plainRenderer(stream: NodeJS.WritableStream): Renderer {
  return {
    sink: (ev) => {
      const line = plainLine(ev);
      if (line !== undefined) stream.write(`${line}\n`);
    },
    done: () => undefined,
  };
}

interface Row {
  title: string;
  state: 'running' | 'ok' | 'failed' | 'skipped';
  started: number;
  ms?: number;
  note?: string;
}

function ttyRenderer(stream: NodeJS.WriteStream): Renderer {
  const update = createLogUpdate(stream, { showCursor: false });
  const rows = new Map<string, Row>();
  const spinner = spinners.dots;
  let frame = 0;
  let header = '';
  const draw = (): void => {
    const lines = [header];
    for (const r of rows.values()) {
      const elapsed = formatDuration(r.ms ?? Date.now() - r.started);
      const icon =
        r.state === 'running'
          ? pc.cyan(spinner.frames[frame % spinner.frames.length]!)
          : r.state === 'ok'
            ? pc.green('✔')
            : r.state === 'failed'
              ? pc.red('✖')
              : pc.dim('↓');
      lines.push(`${icon} ${r.title} ${pc.dim(elapsed)}${r.note ? pc.dim(`  ${r.note}`) : ''}`);
    }
    update(lines.filter(Boolean).join('\n'));
  };
  const timer = setInterval(() => {
    frame++;
    draw();
  }, spinner.interval);
  timer.unref();
  return {
    sink: (ev) => {
      switch (ev.type) {
        case 'run-start':
          header = `${pc.bold(ev.title)} ${pc.dim(`logs: ${ev.logDir}`)}`;
          break;
        case 'step-start':
          rows.set(ev.step, { title: ev.title, state: 'running', started: Date.now() });
          break;
        case 'step-end':
          Object.assign(rows.get(ev.step) ?? {}, { state: 'ok', ms: ev.ms, note: undefined });
          break;
        case 'step-fail':
          Object.assign(rows.get(ev.step) ?? {}, { state: 'failed', ms: ev.ms, note: firstLine(ev.error) });
          break;
        case 'step-skip':
          rows.set(ev.step, { title: `${ev.step} (${ev.reason})`, state: 'skipped', started: Date.now(), ms: 0 });
          break;
        case 'info': {
          const r = ev.step ? rows.get(ev.step) : undefined;
          if (r) r.note = ev.message;
          break;
        }
        case 'warn':
        case 'cleanup-error':
          update.clear();
          stream.write(`${pc.yellow('warning')}: ${ev.type === 'warn' ? ev.message : `cleanup of ${ev.step} failed: ${firstLine(ev.error)}`}\n`);
          break;
        case 'run-end':
          break;
      }
      draw();
    },
    done: () => {
      clearInterval(timer);
      draw();
      update.done();
    },
  };
}
