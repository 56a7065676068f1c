// Session step: wait until cloud-init has finished this boot (its boot-finished file for this
// instance-id; not `cloud-init status --wait`, whose Python start-up costs tens of seconds under
// TCG), then read its result.json. The kernel's taint flags come back in the same round trip.
import { GuestError, TimeoutError, isAbort } from '../../errors.js';
import { CLOUD_INIT_ABSENT, cloudInitWaitScript, parseCloudInitResult } from '../../tools/seed.js';
import { sleep, sshExec } from '../../tools/ssh.js';
import type { Step } from '../../pipeline/step.js';
import { assertAlive, type CloudInitOutcome, type HasSession, type VmSession } from '../session.js';

const TAINT_PREFIX = 'vx-tainted=';

export function waitScript(instanceId: string): string {
  return `${cloudInitWaitScript(instanceId)}\nread -r t < /proc/sys/kernel/tainted && printf '\\n${TAINT_PREFIX}%s\\n' "$t"`;
}

/** result.json's verdict and the taint line, from the wait script's output. */
export function parseWaitOutput(exitCode: number | null, stdout: string): { outcome: CloudInitOutcome; taint?: string } {
  const lines = stdout.split('\n');
  const t = lines.findIndex((l) => l.startsWith(TAINT_PREFIX));
  const taint = t >= 0 ? lines[t]!.slice(TAINT_PREFIX.length).trim() : undefined;
  const json = (t >= 0 ? lines.slice(0, t) : lines).join('\n').trim();
  const outcome: CloudInitOutcome = exitCode === CLOUD_INIT_ABSENT ? { status: 'absent' } : parseCloudInitResult(json);
  return taint === undefined ? { outcome } : { outcome, taint };
}

async function outputLogTail(s: VmSession): Promise<string> {
  const r = await sshExec(s.ssh!, 'sudo -n tail -n 40 /var/log/cloud-init-output.log', { allowFailure: true, timeoutMs: 30_000 }).catch(() => undefined);
  return r?.stdout.trim() ?? '';
}

export const waitCloudInitStep: Step<HasSession> = {
  name: 'wait-cloud-init',
  title: 'Wait for cloud-init',
  async run({ session: s }, rt) {
    if (!s.ssh || !s.instanceId) throw new Error('wait-cloud-init: no SSH target');
    const left = (s.poweredOnAt ?? Date.now()) + s.opts.bootTimeoutMs - Date.now();
    const timeoutMs = Math.max(s.opts.cloudInitMinMs ?? 0, left, 1000);
    const deadline = Date.now() + timeoutMs;
    const script = waitScript(s.instanceId);
    let r;
    try {
      for (;;) {
        r = await sshExec(s.ssh, script, { allowFailure: true, timeoutMs: Math.max(1000, deadline - Date.now()), signal: rt.signal, logFile: rt.logFile });
        // 255 is ssh's own failure: cloud-init restarting sshd dropped a new login, or the master
        // went away (then log in directly from now on). Not an answer: ask again.
        if (r.exitCode !== 255) break;
        await assertAlive(s);
        if (s.master && !s.master.isRunning()) s.ssh = { ...s.ssh, controlPath: undefined };
        if (Date.now() > deadline) throw new TimeoutError(`cloud-init: no answer over SSH (${r.stderr.trim().split('\n').pop() ?? ''})`);
        await sleep(2000, rt.signal);
      }
    } catch (e) {
      if (isAbort(e) || !(e instanceof TimeoutError)) throw e;
      await assertAlive(s);
      s.cloudInit = { status: 'timeout', detail: `not done after ${Math.round(timeoutMs / 1000)} s` };
      if (s.opts.cloudInitErrors === 'fail') throw new TimeoutError(`cloud-init was not done ${Math.round(timeoutMs / 1000)} s after power-on`, { cause: e, hint: s.opts.timeoutHint });
      rt.warn(`cloud-init not done after ${Math.round(timeoutMs / 1000)} s; going on`);
      return;
    }
    const { outcome, taint } = parseWaitOutput(r.exitCode, r.stdout);
    s.cloudInit = outcome;
    if (taint !== undefined) s.taintAtReady = taint;
    s.cloudInitDoneMs = Date.now() - (s.poweredOnAt ?? Date.now());
    rt.info(`cloud-init ${outcome.status}${outcome.detail ? ` (${outcome.detail})` : ''} ${(s.cloudInitDoneMs / 1000).toFixed(1)} s after power-on`);
    if (s.opts.cloudInitErrors !== 'fail') return;
    if (outcome.status === 'error' || (r.exitCode !== 0 && r.exitCode !== CLOUD_INIT_ABSENT)) {
      throw new GuestError(`cloud-init failed in ${s.opts.name}: ${outcome.detail ?? `exit ${r.exitCode}`}\n--- last lines of /var/log/cloud-init-output.log ---\n${await outputLogTail(s)}`, {
        hint: 'a package in the variant may not exist for this base; see the log',
      });
    }
    if (outcome.status === 'degraded') rt.warn(`cloud-init finished with warnings: ${outcome.detail}`);
  },
};
