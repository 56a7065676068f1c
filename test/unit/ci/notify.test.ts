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

/** A webhook endpoint answering with statuses[i] to its i-th request (the last one repeating). */
async function server(statuses: number[]): Promise<{ url: string; got: Received[] }> {
  const r = await redirector((n) => {
    const status = statuses[Math.min(n - 1, statuses.length - 1)]!;
    return { status, body: status === 200 ? 'ok' : 'invalid_payload' };
  });
  return { url: `${r.origin}/services/T000/B000/secret`, got: r.got };
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
  assert.ok(!rec.url.includes('secret') && !rec.url.includes('T000'));
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

test('redactUrl keeps scheme, host, port and common webhook words; userinfo, other segments and query values are hidden', () => {
  assert.equal(redactUrl('https://hooks.slack.com/services/T/B/XYZ'), 'https://hooks.slack.com/services/***/***/***');
  assert.equal(redactUrl('https://discord.com/api/webhooks/1234567/abcDEF_ghi'), 'https://discord.com/api/webhooks/***/***');
  assert.equal(redactUrl('https://user:pa55@ci.example:8443/v2/hooks/mytopic?token=s3cret&room=ops#frag'), 'https://***@ci.example:8443/v2/hooks/***?token=***&room=***');
  assert.equal(redactUrl('https://ntfy.example/mytopic'), 'https://ntfy.example/***');
  assert.equal(redactUrl('not a url'), '(invalid URL)');
});

/** A server that answers every request with the given status and headers, counting what it got. */
async function redirector(answer: (n: number) => { status: number; headers?: Record<string, string>; body?: string }): Promise<{ origin: string; got: Received[] }> {
  const got: Received[] = [];
  const srv = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const a = answer(got.length);
      res.writeHead(a.status, a.headers ?? {});
      res.end(a.body ?? '');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => srv.close());
  return { origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, got };
}

test('a 307 to another host is not followed: the body never reaches it', async () => {
  const other = await redirector(() => ({ status: 200 }));
  const hook = await redirector(() => ({ status: 307, headers: { location: `${other.origin}/steal` } }));
  const rec = await notify(`${hook.origin}/hooks/tok3n`, { text: 'secret summary' }, { retryDelayMs: 10 });
  assert.equal(rec.ok, false);
  assert.match(rec.error!, /redirect to another origin .*not followed/);
  assert.equal(hook.got.length, 1, 'not retried either');
  assert.equal(other.got.length, 0);
});

test('same-origin 307/308 redirects are followed with the body, at most 3; a 302 is not', async () => {
  const hook = await redirector((n) => (n < 3 ? { status: n === 1 ? 307 : 308, headers: { location: `/hooks/next${n}` } } : { status: 200 }));
  const rec = await notify(`${hook.origin}/hooks/start`, { text: 'x' });
  assert.equal(rec.ok, true);
  assert.deepEqual(hook.got.map((g) => [g.method, g.url, g.body]), [['POST', '/hooks/start', '{"text":"x"}'], ['POST', '/hooks/next1', '{"text":"x"}'], ['POST', '/hooks/next2', '{"text":"x"}']]);
  const loop = await redirector(() => ({ status: 307, headers: { location: '/again' } }));
  const l = await notify(`${loop.origin}/x`, { text: 'x' });
  assert.match(l.error!, /more than 3 redirects/);
  assert.equal(loop.got.length, 4);
  const found = await redirector(() => ({ status: 302, headers: { location: '/elsewhere' } }));
  assert.match((await notify(`${found.origin}/x`, { text: 'x' })).error!, /HTTP 302 redirect: not followed/);
  assert.equal(found.got.length, 1);
});

test('secrets are out of the record even when the endpoint echoes the URL and the answer is huge', async () => {
  const hook = await redirector(() => ({ status: 400, body: `bad request for ${'x'.repeat(10)} /hooks/Zq9secretTOKEN123?key=hunter2pass user s3cretpw ${'y'.repeat(1_000_000)}` }));
  const url = `${hook.origin.replace('http://', 'http://alice:s3cretpw@')}/hooks/Zq9secretTOKEN123?key=hunter2pass`;
  const rec = await notify(url, { text: 'x' });
  const text = JSON.stringify(rec);
  for (const secret of ['Zq9secretTOKEN123', 'hunter2pass', 's3cretpw', 'alice']) assert.ok(!text.includes(secret), `${secret} in ${text.slice(0, 400)}`);
  assert.match(rec.error!, /^HTTP 400 Bad Request: bad request for x+ \/hooks\/\*\*\*\?key=\*\*\*/);
  assert.ok(rec.error!.length < 300);
  assert.equal(rec.url, `${hook.origin.replace('http://', 'http://***@')}/hooks/***?key=***`);
  assert.equal(hook.got[0]!.headers.authorization, `Basic ${Buffer.from('alice:s3cretpw').toString('base64')}`, 'user:password sent as Basic auth');
});
