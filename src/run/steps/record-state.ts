// Run step: QEMU is up — its pid and SSH port go into state.json for `vexfs-image ssh`.
import type { Step } from '../../pipeline/step.js';
import { describeProfile } from '../../vm/profile.js';
import { serialLogOf } from '../../vm/session.js';
import { LOOPBACK } from '../connect.js';
import type { RunContext } from '../context.js';
import { writeState } from '../state.js';

export const recordStateStep: Step<RunContext> = {
  name: 'record-state',
  title: 'Record the instance',
  async run(ctx, rt) {
    const s = ctx.session;
    ctx.state.qemuPid = s.vm?.proc.pid;
    ctx.state.sshPort = s.ssh?.port;
    await writeState(ctx.dir, ctx.state);
    rt.info(`QEMU (${describeProfile(s.opts.profile)}) pid ${s.vm?.proc.pid}, SSH forwarded from ${LOOPBACK}:${s.ssh?.port}; serial log ${serialLogOf(s)}`);
  },
};
