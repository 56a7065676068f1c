// Stage 4c: mount the source read-only, copy it to /usr/src/vexfs, build, install, check the
// vermagic and smoke-test the module (guest/build/*.sh).
import type { Step } from '../pipeline/step.js';
import { GUEST_SOURCE_MOUNT, SOURCE_DISK_SERIAL, SOURCE_MOUNT_TAG, type BuildContext } from './context.js';
import { timeLeftMs } from '../vm/session.js';
import { runGuestScript } from './guest-run.js';

export const buildInVmStep: Step<BuildContext> = {
  name: 'build-in-vm',
  title: 'Build and install VexFS in the VM',
  async run(ctx, rt) {
    const ssh = ctx.session.ssh;
    if (!ssh) throw new Error('build-in-vm: no SSH target');
    const mount = await runGuestScript(ssh, 'mount-source.sh', [GUEST_SOURCE_MOUNT, SOURCE_MOUNT_TAG, SOURCE_DISK_SERIAL], rt, {
      timeoutMs: 120_000,
      what: 'mounting the source',
    });
    ctx.guest.sourceTransport = mount.stdout.includes('transport=virtfs') ? 'virtfs' : 'disk';
    rt.info(`source mounted read-only over ${ctx.guest.sourceTransport}`);
    const r = await runGuestScript(ssh, 'build-vexfs.sh', [GUEST_SOURCE_MOUNT, ctx.plan.version, ctx.plan.buildCommand], rt, {
      timeoutMs: timeLeftMs(ctx.session, 'building VexFS'),
      what: `the guest build (${ctx.plan.buildCommand})`,
    });
    ctx.guest.kernel = r.results.kernel;
    ctx.guest.vermagic = r.results.vermagic;
    ctx.guest.moduleSha256 = r.results.module_sha256;
    ctx.guest.vexctlSha256 = r.results.vexctl_sha256;
    ctx.guest.moduleVersion = r.results.module_version;
    rt.info(`vexfs.ko ${ctx.guest.moduleVersion} for ${ctx.guest.kernel}`);
  },
};
