// Stage 4d: the variant's finishing touches — toolchain purge, slimming, production hardening.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GUEST_DIR } from '../paths.js';
import { shellQuote, sshExec, sshUpload } from '../tools/ssh.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from './context.js';
import { timeLeftMs } from '../vm/session.js';
import { runGuestScript } from './guest-run.js';

const HARDENING_DIR = '/tmp/vexfs-image-hardening';
const IDENTITY_DIR = '/etc/vexfs-image';

/** /etc/vexfs-image/release, sourceable by sh (variant and version names are checked to be shell-safe). */
export function identityRecord(variant: string, version: string): string {
  return `VARIANT=${variant}\nVERSION=${version}\n`;
}

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
    // The image's own record of what it is: validate's image-identity check compares it with the
    // variant it was told (by the sidecar manifest or the file name), so a production image
    // mislabelled minimal fails instead of passing without the production checks.
    const record = shellQuote(identityRecord(ctx.plan.variantName, ctx.plan.version));
    await sshExec(ssh, `sudo install -d -m 0755 ${IDENTITY_DIR} && printf %s ${record} | sudo tee ${IDENTITY_DIR}/release >/dev/null`, { signal: rt.signal, timeoutMs: 30_000 });
  },
};
