// Run step: cloud-init has replaced the image's host keys; the first connection that checks the
// key records it in the instance's own known_hosts, and the instance is ready.
import { writeFile } from 'node:fs/promises';
import type { Step } from '../../pipeline/step.js';
import { run } from '../../tools/exec.js';
import { instanceSshArgs } from '../connect.js';
import type { RunContext } from '../context.js';
import { writeState } from '../state.js';

export const pinHostKeyStep: Step<RunContext> = {
  name: 'pin-host-key',
  title: 'Record the host key',
  async run(ctx, rt) {
    await writeFile(ctx.state.knownHosts, '', { mode: 0o600 });
    await run('ssh', instanceSshArgs(ctx.state, ['true']), { signal: rt.signal, timeoutMs: ctx.o.sshTimeoutS * 1000 });
    ctx.state.status = 'ready';
    ctx.state.readyAt = new Date().toISOString();
    await writeState(ctx.dir, ctx.state);
    ctx.ready = true;
    rt.info(`${ctx.o.name} ready ${((Date.now() - ctx.session.poweredOnAt!) / 1000).toFixed(1)} s after power-on`);
    ctx.o.onReady(ctx.state, ctx.dir);
  },
};
