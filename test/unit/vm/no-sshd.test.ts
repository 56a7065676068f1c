import { test } from 'node:test';
import assert from 'node:assert/strict';
import { watchForMissingSshd } from '../../../src/vm/no-sshd.js';
import { VmExitedError } from '../../../src/tools/qemu.js';
import type { ProbeResult } from '../../../src/tools/ssh.js';

const BOOTING = '[  OK  ] Started systemd-journald.service\n';
const BOOTED = `${BOOTING}\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mmulti-user.target\x1b[0m - Multi-User System.\r\n`;
const PROMPT = `${BOOTING}\r\nDebian GNU/Linux 13 host ttyS0\r\n\r\nhost login: `;

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a booted guest whose sshd stays silent past the grace is reported as "no sshd"', async () => {
  const c = clock();
  const probes: number[] = [];
  const w = watchForMissingSshd({ host: '127.0.0.1', port: 2222 }, { graceMs: 60_000, now: c.now, probe: async () => (probes.push(c.now()), 'refused' as ProbeResult) });
  await w.check(BOOTING); // still booting: no verdict, no probe
  c.advance(120_000);
  await w.check(BOOTING);
  await w.check(BOOTED); // booted now: the grace starts here
  c.advance(59_000);
  await w.check(BOOTED);
  assert.deepEqual(probes, []);
  c.advance(2_000);
  await assert.rejects(w.check(BOOTED), (e: unknown) => e instanceof VmExitedError && e.kind === 'no sshd' && /multi-user\.target reached.*127\.0\.0\.1:2222.*sshd is masked, disabled or failing/.test(e.message));
  assert.equal(probes.length, 1);
});

test('the login prompt counts as booted; an answering sshd is never reported', async () => {
  const c = clock();
  const w = watchForMissingSshd({ host: '127.0.0.1', port: 2222 }, { graceMs: 1000, now: c.now, probe: async () => 'ssh' as ProbeResult });
  await w.check(PROMPT);
  c.advance(5000);
  await w.check(PROMPT);
  const silent = watchForMissingSshd({ host: '127.0.0.1', port: 2222 }, { graceMs: 1000, now: c.now, probe: async () => 'silent' as ProbeResult });
  await silent.check(PROMPT);
  c.advance(5000);
  await assert.rejects(silent.check(PROMPT), /sshd is masked/);
});
