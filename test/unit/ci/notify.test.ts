// Notifications against a real HTTP server started by the test.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildPayload, notify, redactUrl } from '../../../src/ci/notify.js';
import type { CiManifest } from '../../../src/ci/manifest.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

async function server(statuses: number[]): Promise<{ url: string; got: Received[] }> {
  const got: Received[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      res.statusCode = statuses[Math.min(got.length - 1, statuses.length - 1)]!;
      res.end(res.statusCode === 200 ? 'ok' : 'invalid_payload');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => srv.close());
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/services/T000/B000/secret`, got };
}

const manifest = (ok: boolean): CiManifest => ({
  schema: 'vexfs-image/ci-manifest@1', build_number: '123', commit_sha: 'a'.repeat(40), vexfs_version: '1.0.0', variants: ['minimal', 'production'], tag: 'v1.0.0', provider: 'generic',
  ok, started_at: new Date(0).toISOString(), finished_at: new Date(600_000).toISOString(), duration_ms: 600_000, jobs: 1, fail_fast: false, accelerator: 'tcg',
  tool: { name: 'vexfs-image', version: '0.1.0' }, host: 'h',
  stages: [{ name: 'build', title: 'Build', status: ok ? 'ok' : 'failed', started_at: null, duration_ms: 5, detail: '' }],
  images: [
    { variant: 'minimal', name: 'vexfs-minimal-1.0.0', version: '1.0.0', status: 'passed', build: { status: 'ok', started_at: null, duration_ms: 300_000 }, validation: { status: 'passed', started_at: null, duration_ms: 90_000, summary: { total: 20, passed: 20, failed: 0, warnings: 0, skipped: 0, errors: 0 } }, files: [], stage_durations_ms: { build: {}, validate: {} }, timeline: [], logs: null },
    { variant: 'production', name: 'vexfs-production-1.0.0', version: '1.0.0', status: ok ? 'passed' : 'build-failed', build: { status: ok ? 'ok' : 'failed', started_at: null, duration_ms: 100, ...(ok ? {} : { error: 'make vm-build failed\nmore' }) }, validation: { status: ok ? 'passed' : 'not-run', started_at: null, duration_ms: null }, files: [], stage_durations_ms: { build: {}, validate: {} }, timeline: [], logs: null },
  ],
});

test('POSTs JSON with a Slack-compatible text field and the structured summary', async () => {
  const s = await server([200]);
  const rec = await notify(s.url, buildPayload(manifest(false), { GITHUB_SERVER_URL: 'https://github.com', GITHUB_REPOSITORY: 'o/r', GITHUB_RUN_ID: '5' }));
  assert.equal(rec.ok, true);
  assert.equal(rec.status, 200);
  assert.equal(s.got.length, 1);
  assert.equal(s.got[0]!.method, 'POST');
  assert.equal(s.got[0]!.headers['content-type'], 'application/json');
  const body = JSON.parse(s.got[0]!.body);
  assert.equal(typeof body.text, 'string');
  assert.match(body.text, /^:x: vexfs-image CI #123 \(aaaaaaaaaaaa\), VexFS 1\.0\.0: FAILED, 1\/2 variants built and validated in 10m00s/);
  assert.match(body.text, /• production: build-failed: make vm-build failed\n/);
  assert.match(body.text, /https:\/\/github.com\/o\/r\/actions\/runs\/5/);
  assert.equal(body.status, 'failure');
  assert.deepEqual(body.variants.map((v: { variant: string }) => v.variant), ['minimal', 'production']);
  assert.equal(body.variants[0].checks, '20/20');
  // The secret path of the webhook never ends up in records or logs.
  assert.ok(!rec.url.includes('secret'));
});

test('an HTTP error is reported (with the body), 5xx retried once, 4xx not', async () => {
  const s5 = await server([500, 500]);
  const r5 = await notify(s5.url, { text: 'x' }, { retryDelayMs: 10 });
  assert.equal(r5.ok, false);
  assert.equal(r5.status, 500);
  assert.match(r5.error!, /HTTP 500 .*invalid_payload/);
  assert.equal(s5.got.length, 2);
  const s4 = await server([404]);
  const r4 = await notify(s4.url, { text: 'x' }, { retryDelayMs: 10 });
  assert.equal(r4.status, 404);
  assert.equal(s4.got.length, 1);
  const flaky = await server([503, 200]);
  assert.equal((await notify(flaky.url, { text: 'x' }, { retryDelayMs: 10 })).ok, true);
});

test('no server, a bad URL, a server that never answers: reported, never thrown', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await notify(`http://127.0.0.1:${closedPort}/hook`, { text: 'x' }, { retryDelayMs: 10 });
  assert.equal(refused.ok, false);
  assert.match(refused.error!, /ECONNREFUSED/);
  const bad = await notify('ftp://example/x', { text: 'x' });
  assert.match(bad.error!, /invalid notification URL/);
  const srv = createServer(() => undefined);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  const slow = await notify(`http://127.0.0.1:${port}/`, { text: 'x' }, { timeoutMs: 200, attempts: 1 });
  srv.closeAllConnections();
  srv.close();
  assert.match(slow.error!, /no answer within 0.2 s/);
});

test('redactUrl keeps scheme and host only', () => {
  assert.equal(redactUrl('https://hooks.slack.com/services/T/B/XYZ'), 'https://hooks.slack.com/…');
  assert.equal(redactUrl('not a url'), '(invalid URL)');
});
