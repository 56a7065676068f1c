// Stage 4a, boot the build VM: the accelerator doctor found usable, SSH on a free 127.0.0.1
// port, a QMP socket, the serial console to a file, the source read-only.
import { join } from 'node:path';
import { freePort } from '../tools/ports.js';
import { Vm } from '../tools/qemu.js';
import type { Step } from '../pipeline/step.js';
import { BUILD_USER, SOURCE_DISK_SERIAL, SOURCE_MOUNT_TAG, type BuildContext } from './context.js';

export const bootStep: Step<BuildContext> = {
  name: 'boot',
  title: 'Boot build VM',
  async run(ctx, rt) {
    if (!ctx.disk || !ctx.seedIso || !ctx.key || !ctx.accel || !ctx.sourceDisk) throw new Error('boot: earlier steps did not run');
    const port = await freePort();
    ctx.deadline = Date.now() + ctx.plan.timeoutS * 1000;
    ctx.vm = await Vm.start(
      {
        name: `vexfs-build-${ctx.plan.variantName}`,
        accel: ctx.accel,
        memoryMb: ctx.plan.memoryMb,
        cpus: ctx.plan.cpus,
        drives: [
          { file: ctx.disk, format: 'qcow2', discard: true },
          { file: ctx.sourceDisk, format: 'raw', readOnly: true, serial: SOURCE_DISK_SERIAL },
        ],
        seedIso: ctx.seedIso,
        sshPort: port,
        serialLog: join(ctx.vmDir, 'serial.log'),
        qmpSocket: join(ctx.vmDir, 'qmp.sock'),
        pidFile: join(ctx.vmDir, 'qemu.pid'),
        virtfs: [{ path: ctx.plan.sourceDir, mountTag: SOURCE_MOUNT_TAG, readOnly: true }],
      },
      { signal: rt.signal, logFile: rt.logFile },
    );
    ctx.ssh = { host: '127.0.0.1', port, user: BUILD_USER, key: ctx.key };
    rt.info(`QEMU pid ${ctx.vm.proc.pid}, ssh 127.0.0.1:${port}, serial ${join(ctx.vmDir, 'serial.log')}`);
  },
  async cleanup(ctx) {
    await ctx.vm?.kill();
  },
};
