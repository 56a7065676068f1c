// Stage 4d: the variant's finishing touches — toolchain purge, slimming, production hardening.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GUEST_DIR } from '../paths.js';
import { sshExec, sshUpload } from '../tools/ssh.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from './context.js';
import { timeLeftMs } from '../vm/session.js';
import { runGuestScript } from './guest-run.js';

const HARDENING_DIR = '/tmp/vexfs-image-hardening';

export const variantStep: Step<BuildContext> = {
  name: 'variant',
  title: 'Apply variant',
  async run(ctx, rt) {
    const ssh = ctx.session.ssh;
    if (!ssh) throw new Error('variant: no SSH target');
    const v = ctx.plan.variant;
    if (v.hardening) {
      await sshExec(ssh, `mkdir -p ${HARDENING_DIR}`, { signal: rt.signal, timeoutMs: 30_000 });
      const dir = join(GUEST_DIR, 'hardening');
      for (const name of await readdir(dir)) {
        await sshUpload(ssh, await readFile(join(dir, name)), `${HARDENING_DIR}/${name}`, '0644', { signal: rt.signal, timeoutMs: 30_000 });
      }
    }
    const flag = (b: boolean): string => (b ? '1' : '0');
    const r = await runGuestScript(
      ssh,
      'apply-variant.sh',
      [flag(v.keep_toolchain), flag(v.slim), flag(v.hardening), HARDENING_DIR, ...ctx.plan.toolchainPackages],
      rt,
      { timeoutMs: timeLeftMs(ctx.session, 'applying the variant'), what: `variant ${ctx.plan.variantName}` },
    );
    if (r.results.packages) ctx.guest.packageCount = Number(r.results.packages);
  },
};
