// Notifications: POST a JSON summary of the run to a webhook. The body has a Slack-compatible
// `text` field (Slack, Mattermost, Rocket.Chat and Teams' incoming webhooks show it) plus the
// structured summary. A failed notification is reported, never fatal.
import { UsageError } from '../errors.js';
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

/**
 * A webhook URL is a credential (Slack's /services/T…/B…/secret, Discord's /api/webhooks/ID/token,
 * a ?token= query): this is how it is shown wherever it is written (logs, manifest, reports,
 * errors). The rule, deny by default: scheme, host and port are kept; user:password becomes
 * "***@"; a path segment is kept only when it is one of the common webhook words below or an API
 * version (v1, v10), every other segment becomes "***" (a topic name such as ntfy's /mytopic is
 * the secret too); query keys that are plain words are kept and every value becomes "***"; the
 * fragment is dropped.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '(invalid URL)';
  }
  const user = u.username || u.password ? '***@' : '';
  const path = u.pathname
    .split('/')
    .map((seg) => (seg === '' || isPlainSegment(seg) ? seg : '***'))
    .join('/');
  const query = [...u.searchParams.keys()].map((k) => `${isPlainKey(k) ? k : '***'}=***`).join('&');
  return `${u.protocol}//${user}${u.host}${path}${query ? `?${query}` : ''}`;
}

const PUBLIC_SEGMENTS = new Set(['api', 'hook', 'hooks', 'webhook', 'webhooks', 'services', 'incomingwebhook', 'webhookb2', 'notify', 'notifications', 'workflows', 'triggers', 'ci', 'events']);

function isPlainSegment(seg: string): boolean {
  return PUBLIC_SEGMENTS.has(seg.toLowerCase()) || /^v[0-9]{1,2}$/.test(seg);
}

function isPlainKey(key: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/.test(key);
}

/** The parts redactUrl hides, longest first, decoded and raw (to scrub them out of error text). */
function secretsOf(u: URL): string[] {
  const out = new Set<string>();
  const add = (v: string): void => {
    if (v.length >= 4) {
      out.add(v);
      try {
        out.add(decodeURIComponent(v));
      } catch {
        /* raw form only */
      }
    }
  };
  add(u.username);
  add(u.password);
  for (const seg of u.pathname.split('/')) if (seg && !isPlainSegment(seg)) add(seg);
  for (const [k, v] of u.searchParams) {
    add(v);
    if (!isPlainKey(k)) add(k);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

/** Replaces the URL's secret parts in text (an endpoint may echo the URL in its error body). */
export function scrubSecrets(text: string, url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return text;
  }
  let out = text;
  for (const s of secretsOf(u)) out = out.split(s).join('***');
  return out;
}

/** A webhook URL checked before a run starts (bad input: exit 2), shown redacted. */
export function checkNotifyUrl(url: string, from = '--notify-url'): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not echoed: a mistyped webhook URL is still a secret.
    throw new UsageError(`${from} is not a valid URL; give an http:// or https:// webhook URL.`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`${from} must be an http or https URL, not ${u.protocol}; give an http:// or https:// webhook URL.`);
  return url;
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
  /** Deadline for one attempt, redirects and the answer's body included (default 15 s). */
  timeoutMs?: number;
  /** Attempts for network errors and 5xx/429 answers (default 2). */
  attempts?: number;
  retryDelayMs?: number;
  signal?: AbortSignal;
}

/** Same-origin 307/308 redirects followed (the body is sent again); never to another origin. */
const MAX_REDIRECTS = 3;
/** Of the answer, only this much is read (it goes into an error message). */
const MAX_ANSWER_BYTES = 4096;

type Attempt = { res: Response; body: string } | { error: string };

async function readAnswer(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ANSWER_BYTES) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8', 0, Math.min(size, MAX_ANSWER_BYTES));
}

/** One POST, following at most MAX_REDIRECTS same-origin 307/308 redirects by hand. */
async function post(target: URL, body: string, signal: AbortSignal): Promise<Attempt> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'vexfs-image-ci' };
  // fetch refuses a URL with user:password in it: send them as Basic auth (to this origin only).
  if (target.username || target.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
    target = new URL(target);
    target.username = '';
    target.password = '';
  }
  let url = target;
  for (let hop = 0; ; hop++) {
    // redirect: 'manual', because fetch's own following re-sends the body on 307/308 to any host.
    const res = await fetch(url, { method: 'POST', headers, body, redirect: 'manual', signal });
    if (res.status < 300 || res.status >= 400) return { res, body: (await readAnswer(res).catch(() => '')).trim().slice(0, 200) };
    await res.body?.cancel().catch(() => undefined);
    const location = res.headers.get('location');
    let next: URL | undefined;
    try {
      next = location ? new URL(location, url) : undefined;
    } catch {
      next = undefined;
    }
    if (!next) return { error: `HTTP ${res.status} redirect without a usable Location: not followed` };
    if (next.origin !== target.origin) return { error: `HTTP ${res.status} redirect to another origin (${next.origin}): not followed, the summary was not sent there` };
    if (res.status !== 307 && res.status !== 308) return { error: `HTTP ${res.status} redirect: not followed (a webhook must take the POST itself, or answer 307/308)` };
    if (hop >= MAX_REDIRECTS) return { error: `more than ${MAX_REDIRECTS} redirects: not followed` };
    url = next;
  }
}

/** POSTs the payload; never throws. Every URL and error it returns is redacted (redactUrl). */
export async function notify(url: string, payload: unknown, opts: NotifyOptions = {}): Promise<NotificationRecord> {
  const t0 = Date.now();
  const shown = redactUrl(url);
  const scrub = (text: string): string => scrubSecrets(text, url);
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`unsupported protocol ${parsed.protocol}`);
  } catch (e) {
    return { url: shown, ok: false, status: null, error: scrub(`invalid notification URL: ${e instanceof Error ? e.message : String(e)}`), duration_ms: 0 };
  }
  const attempts = Math.max(1, opts.attempts ?? 2);
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const body = JSON.stringify(payload);
  let last: NotificationRecord = { url: shown, ok: false, status: null, error: 'not sent', duration_ms: 0 };
  for (let i = 1; i <= attempts; i++) {
    const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
    try {
      const r = await post(parsed, body, AbortSignal.any(signals));
      if ('error' in r) return { url: shown, ok: false, status: null, error: scrub(r.error), duration_ms: Date.now() - t0 };
      const { res } = r;
      last = res.ok
        ? { url: shown, ok: true, status: res.status, duration_ms: Date.now() - t0 }
        : { url: shown, ok: false, status: res.status, error: scrub(`HTTP ${res.status} ${res.statusText}${r.body ? `: ${r.body}` : ''}`), duration_ms: Date.now() - t0 };
      if (res.ok || (res.status < 500 && res.status !== 429)) return last;
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      const why = err.name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : (err.cause?.code ?? err.cause?.message ?? err.message);
      last = { url: shown, ok: false, status: null, error: scrub(why), duration_ms: Date.now() - t0 };
      if (opts.signal?.aborted) return last;
    }
    if (i < attempts) await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
  }
  return last;
}
