// Notifications: POST a JSON summary of the run to a webhook. The body has a Slack-compatible
// `text` field (Slack, Mattermost, Rocket.Chat and Teams' incoming webhooks show it) plus the
// structured summary. A failed notification is reported, never fatal.
import { formatDuration } from '../ui/format.js';
import type { CiManifest, NotificationRecord } from './manifest.js';

export interface NotificationPayload {
  text: string;
  status: 'success' | 'failure';
  build_number: string;
  commit_sha: string | null;
  vexfs_version: string;
  tag: string | null;
  duration_ms: number;
  variants: Array<{ variant: string; status: string; build_ms: number | null; validation: string; checks?: string }>;
  stages: Array<{ name: string; status: string; duration_ms: number }>;
  /** A link to the CI run when the provider gives one. */
  run_url?: string;
}

/** GitHub Actions' or GitLab's URL of this run, when their variables are set. */
export function runUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID) return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`;
  return env.CI_PIPELINE_URL || undefined;
}

/** Redacts the path and query of a webhook URL (they carry its secret) for logs and manifests. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '/' : '/…'}`;
  } catch {
    return '(invalid URL)';
  }
}

export function buildPayload(m: CiManifest, env: NodeJS.ProcessEnv = {}): NotificationPayload {
  const passed = m.images.filter((i) => i.status === 'passed').length;
  const icon = m.ok ? ':white_check_mark:' : ':x:';
  const commit = m.commit_sha ? ` (${m.commit_sha.slice(0, 12)})` : '';
  const head = `${icon} vexfs-image CI #${m.build_number}${commit}, VexFS ${m.vexfs_version}: ${m.ok ? 'passed' : 'FAILED'}, ${passed}/${m.images.length} variants built and validated in ${formatDuration(m.duration_ms)}`;
  const lines = m.images.map((i) => {
    const s = i.validation.summary;
    const checks = s ? `, checks ${s.passed}/${s.total} passed` : '';
    const why = i.status === 'passed' ? '' : `: ${i.build.error ?? i.validation.error ?? i.status}`.split('\n')[0]!.slice(0, 200);
    return `• ${i.variant}: ${i.status}${checks}${why}`;
  });
  const url = runUrl(env);
  if (url) lines.push(url);
  return {
    text: [head, ...lines].join('\n'),
    status: m.ok ? 'success' : 'failure',
    build_number: m.build_number,
    commit_sha: m.commit_sha,
    vexfs_version: m.vexfs_version,
    tag: m.tag,
    duration_ms: m.duration_ms,
    variants: m.images.map((i) => ({
      variant: i.variant,
      status: i.status,
      build_ms: i.build.duration_ms,
      validation: i.validation.status,
      ...(i.validation.summary ? { checks: `${i.validation.summary.passed}/${i.validation.summary.total}` } : {}),
    })),
    stages: m.stages.map((s) => ({ name: s.name, status: s.status, duration_ms: s.duration_ms })),
    ...(url ? { run_url: url } : {}),
  };
}

export interface NotifyOptions {
  timeoutMs?: number;
  /** Attempts for network errors and 5xx/429 answers (default 2). */
  attempts?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** POSTs the payload; never throws. */
export async function notify(url: string, payload: unknown, opts: NotifyOptions = {}): Promise<NotificationRecord> {
  const t0 = Date.now();
  const shown = redactUrl(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`unsupported protocol ${parsed.protocol}`);
  } catch (e) {
    return { url: shown, ok: false, status: null, error: `invalid notification URL: ${e instanceof Error ? e.message : String(e)}`, duration_ms: 0 };
  }
  const attempts = Math.max(1, opts.attempts ?? 2);
  let last: NotificationRecord = { url: shown, ok: false, status: null, error: 'not sent', duration_ms: 0 };
  for (let i = 1; i <= attempts; i++) {
    const signals = [AbortSignal.timeout(opts.timeoutMs ?? 15_000), ...(opts.signal ? [opts.signal] : [])];
    try {
      const res = await fetch(parsed, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'vexfs-image-ci' },
        body: JSON.stringify(payload),
        signal: AbortSignal.any(signals),
      });
      const body = (await res.text().catch(() => '')).trim().slice(0, 200);
      last = res.ok
        ? { url: shown, ok: true, status: res.status, duration_ms: Date.now() - t0 }
        : { url: shown, ok: false, status: res.status, error: `HTTP ${res.status} ${res.statusText}${body ? `: ${body}` : ''}`, duration_ms: Date.now() - t0 };
      if (res.ok || (res.status < 500 && res.status !== 429)) return last;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${(opts.timeoutMs ?? 15_000) / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
      last = { url: shown, ok: false, status: null, error: why, duration_ms: Date.now() - t0 };
      if (opts.signal?.aborted) return last;
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
  }
  return last;
}
