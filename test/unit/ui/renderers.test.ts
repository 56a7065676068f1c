import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { chooseRenderer, createRenderer, plainLine } from '../../../src/ui/renderers.js';
import type { RunEvent } from '../../../src/pipeline/events.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[/;

class Capture extends Writable {
  text = '';
  isTTY = false;
  columns = 100;
  rows = 40;
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

const EVENTS: RunEvent[] = [
  { type: 'run-start', title: 'build minimal', logDir: '/b/logs' },
  { type: 'step-start', step: 'boot', title: 'Boot the build VM', index: 0, total: 3 },
  { type: 'info', message: 'waiting for SSH', step: 'boot' },
  { type: 'step-end', step: 'boot', ms: 61_500 },
  { type: 'step-skip', step: 'compress', reason: 'not asked' },
  { type: 'step-start', step: 'make', title: 'Build in the VM', index: 2, total: 3 },
  { type: 'warn', message: 'disk nearly full', step: 'make' },
  { type: 'step-fail', step: 'make', ms: 1500, error: new Error('make vm-build exited with code 2\n    details') },
  { type: 'cleanup-error', step: 'boot', error: new Error('qemu would not die') },
  { type: 'run-end', ok: false, ms: 64_000 },
];

describe('chooseRenderer', () => {
  const tty = { isTTY: true } as NodeJS.WriteStream;
  const pipe = { isTTY: false } as NodeJS.WriteStream;
  test('a TTY gets the live list', () => assert.equal(chooseRenderer({ stream: tty, env: {} }), 'tty'));
  test('not a TTY: plain lines', () => assert.equal(chooseRenderer({ stream: pipe, env: {} }), 'plain'));
  test('CI=true or CI=1 on a TTY: plain lines', () => {
    assert.equal(chooseRenderer({ stream: tty, env: { CI: 'true' } }), 'plain');
    assert.equal(chooseRenderer({ stream: tty, env: { CI: '1' } }), 'plain');
  });
  test('TERM=dumb: plain lines', () => assert.equal(chooseRenderer({ stream: tty, env: { TERM: 'dumb' } }), 'plain'));
  test('--quiet: silent', () => assert.equal(chooseRenderer({ stream: tty, env: {}, quiet: true }), 'silent'));
});

describe('plain renderer', () => {
  const now = new Date('2025-01-02T03:04:05.678Z');

  test('every line starts with an HH:MM:SS timestamp', () => {
    for (const ev of EVENTS) {
      const line = plainLine(ev, now);
      assert.ok(line !== undefined);
      assert.match(line, /^\[03:04:05\] /, line);
      assert.ok(!line.includes('\n'), `one line: ${line}`);
    }
  });

  test('says what happened, with durations and the first line of errors', () => {
    const text = EVENTS.map((e) => plainLine(e, now)).join('\n').replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
    assert.match(text, /build minimal \(logs: \/b\/logs\)/);
    assert.match(text, /\[1\/3\] Boot the build VM \.\.\./);
    assert.match(text, /ok {3}boot \(1m02s\)/);
    assert.match(text, /skip compress: not asked/);
    assert.match(text, /FAIL make \(1\.5 s\): make vm-build exited with code 2$/m);
    assert.doesNotMatch(text, /details/);
    assert.match(text, /warning: cleanup of boot failed: qemu would not die/);
    assert.match(text, /warning: disk nearly full/);
    assert.match(text, /failed in 1m04s/);
  });

  test('createRenderer("plain") writes one line per event to the stream', () => {
    const s = new Capture();
    const r = createRenderer('plain', s);
    for (const e of EVENTS) r.sink(e);
    r.done();
    const lines = s.text.split('\n').filter(Boolean);
    assert.equal(lines.length, EVENTS.length);
    for (const l of lines) assert.match(l, /^\[\d\d:\d\d:\d\d\] /);
  });

  test('silent renderer writes nothing', () => {
    const s = new Capture();
    const r = createRenderer('silent', s);
    for (const e of EVENTS) r.sink(e);
    r.done();
    assert.equal(s.text, '');
  });
});

/** Prints the plain lines from a fresh process, where picocolors reads the colour env vars. */
function plainInChild(env: NodeJS.ProcessEnv): string {
  const mod = join(PACKAGE_ROOT, 'src', 'ui', 'renderers.ts');
  const code = `const { plainLine } = await import(${JSON.stringify(mod)});
for (const ev of ${JSON.stringify(EVENTS.filter((e) => e.type !== 'step-fail' && e.type !== 'cleanup-error'))}) process.stdout.write(plainLine(ev) + '\\n');`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !['NO_COLOR', 'FORCE_COLOR', 'CI'].includes(k)));
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', code], { env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('colours: on when forced, and NO_COLOR wins over FORCE_COLOR', { timeout: 60_000 }, () => {
  assert.match(plainInChild({ FORCE_COLOR: '1' }), ANSI, 'colour was expected when forced (else this test proves nothing)');
  const plain = plainInChild({ FORCE_COLOR: '1', NO_COLOR: '1' });
  assert.doesNotMatch(plain, ANSI);
  assert.match(plain, /\[\d\d:\d\d:\d\d\] ok {3}boot/);
});

test('tty renderer: a live list with ✔ / ✖ / skipped rows and warnings above it', () => {
  const s = new Capture();
  s.isTTY = true;
  const r = createRenderer('tty', s);
  for (const e of EVENTS) r.sink(e);
  r.done();
  const text = s.text.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex
  assert.match(text, /build minimal/);
  assert.match(text, /✔ Boot the build VM/);
  assert.match(text, /✖ Build in the VM/);
  assert.match(text, /compress \(not asked\)/);
  assert.match(text, /warning\S*: disk nearly full/);
  assert.match(text, /cleanup of boot failed: qemu would not die/);
});
