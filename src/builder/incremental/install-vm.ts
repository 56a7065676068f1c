// The incremental build's install VM: the image's own kernel booted straight into a busybox
// initramfs (guest/incremental/init.sh) that holds the payload built on the host; its one disk,
// on NVMe (built into Debian's cloud kernels, as ext4 is: the initramfs needs no module), is the
// build's overlay on the cached image. The guest installs the payload with the install half of
// guest/build/build-payload.sh (the build VM's own code: same install paths, depmod, smoke test)
// and reports its result lines on the serial console.
import { appendFile, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GuestError } from '../../errors.js';
import { GUEST_DIR } from '../../paths.js';
import type { Step } from '../../pipeline/step.js';
import { initramfs, type CpioEntry } from '../../tools/cpio.js';
import { run } from '../../tools/exec.js';
import { lastLines } from '../../tools/exec.js';
import { VmExitedError } from '../../tools/qemu.js';
import { serialLogOf } from '../../vm/session.js';
import { parseResults } from '../guest-run.js';
import { setInstalledFacts } from '../build-in-vm.js';
import type { BuildContext } from '../context.js';
import type { HostBuild } from './compile.js';
import type { GuestFile } from '../user-data.js';

/** Where the initramfs's /payload is copied in the chroot (init.sh), so the found list's paths. */
const IN_CHROOT = '/tmp/vexfs-image-payload';

/** The found list the install half reads: artifacts at their place in the initramfs's payload. */
export function foundList(found: HostBuild['found']): string {
  return found.map((f) => `${f.kind}\t${f.name}\t${IN_CHROOT}/${payloadFileName(f)}`).join('\n');
}

/** A module keeps its .ko: modinfo and insmod take a path only when it ends so. */
const payloadFileName = (f: { kind: string; name: string }): string => (f.kind === 'module' ? `module-${f.name}.ko` : `${f.kind}-${f.name}`);

/** files.list: "N<TAB>MODE<TAB>PATH" a line, the content in payload/file-N (init.sh writes them into the image). */
export function filesList(files: readonly GuestFile[]): string {
  return files
    .map((f, i) => {
      if (/[\t\n]/.test(f.path) || !f.path.startsWith('/')) throw new Error(`payload file path ${JSON.stringify(f.path)}`);
      return `${i}\t${f.permissions}\t${f.path}\n`;
    })
    .join('');
}

/**
 * The install VM's initramfs: busybox, /init, the build-payload.sh that installs, and /payload:
 * the spec, the found list, the artifacts, and the payload's files (written by cloud-init in a
 * full build: one holds {{build_date}}, which follows the source commit).
 */
export async function makeInstallInitramfs(built: HostBuild, spec: string, version: string, files: readonly GuestFile[], busybox: string): Promise<Buffer> {
  const applets = (await run(busybox, ['--list'], { timeoutMs: 10_000 })).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  const entries: CpioEntry[] = [
    { path: 'init', type: 'file', mode: 0o755, data: await readFile(join(GUEST_DIR, 'incremental', 'init.sh')) },
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: await readFile(busybox) },
    ...applets.map((a): CpioEntry => ({ path: `bin/${a}`, type: 'symlink', data: 'busybox' })),
    { path: 'payload/build-payload.sh', type: 'file', mode: 0o755, data: await readFile(join(GUEST_DIR, 'build', 'build-payload.sh')) },
    { path: 'payload/spec', type: 'file', mode: 0o644, data: spec },
    { path: 'payload/version', type: 'file', mode: 0o644, data: version },
    { path: 'payload/found', type: 'file', mode: 0o644, data: foundList(built.found) },
    { path: 'payload/files.list', type: 'file', mode: 0o644, data: filesList(files) },
    ...files.map((f, i): CpioEntry => ({ path: `payload/file-${i}`, type: 'file', mode: 0o600, data: f.content })),
  ];
  for (const f of built.found) entries.push({ path: `payload/${payloadFileName(f)}`, type: 'file', mode: f.kind === 'tool' ? 0o755 : 0o644, data: await readFile(f.file) });
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'proc', 'sys', 'dev', 'mnt', 'tmp', 'payload'];
  return initramfs([...dirs.map((d): CpioEntry => ({ path: d, type: 'dir' })), ...entries]);
}

/** The install half's exit code from the console, or undefined before the guest got there. */
export function installOutcome(serial: string): { rc?: number; done: boolean; results: Record<string, string> } {
  const m = /^INCR-RESULT (\d+)\r?$/m.exec(serial);
  return { ...(m ? { rc: Number(m[1]) } : {}), done: /^INCR-DONE\r?$/m.test(serial), results: parseResults(serial) };
}

/** Until the guest has unmounted and powered off (it does so itself), or the deadline; QEMU is gone after. */
export const installStep: Step<BuildContext> = {
  name: 'install',
  title: 'Install the payload into the image (kernel booted directly)',
  async run(ctx, rt) {
    const s = ctx.session;
    const deadline = (s.poweredOnAt ?? Date.now()) + s.opts.bootTimeoutMs;
    let serial = '';
    let doneAt: number | undefined;
    for (;;) {
      serial = await readFile(serialLogOf(s), 'utf8').catch(() => '');
      if (!s.vm?.isRunning()) break;
      // Unmounted and synced (the guest's flush reached the overlay): QEMU exits on the guest's
      // power-off at once; should it not, nothing is left to write and the power-off step kills it.
      if (installOutcome(serial).done) doneAt ??= Date.now();
      if (doneAt !== undefined && Date.now() - doneAt > 5000) break;
      await s.vm.assertHealthy();
      if (Date.now() > deadline) throw new VmExitedError(`the install VM did not finish within ${Math.round(s.opts.bootTimeoutMs / 1000)} s of power-on`, s.opts.timeoutHint, 'timeout', await s.vm.serialTail(30));
      if (rt.signal.aborted) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The guest's console in the step's log: the install's output and its timestamps.
    await appendFile(rt.logFile, `--- ${serialLogOf(s)} ---\n${serial}`).catch(() => undefined);
    const out = installOutcome(serial);
    if (out.rc === undefined || !out.done) {
      await s.vm?.assertHealthy();
      throw new GuestError(`the install VM ended without its result\n--- last 30 lines of ${serialLogOf(s)} ---\n${lastLines(serial, 30)}`, { hint: `see ${serialLogOf(s)}` });
    }
    if (out.rc !== 0) {
      throw new GuestError(`installing the payload into ${basename(s.backing?.path ?? 'the image')} failed (build-payload.sh install exited with code ${out.rc})\n--- last 40 lines of ${serialLogOf(s)} ---\n${lastLines(serial, 40)}`, { hint: `see ${serialLogOf(s)}` });
    }
    // Normally QEMU has exited on the guest's power-off; finalise must not read the overlay
    // while QEMU holds it.
    s.cleanShutdown = !s.vm?.isRunning();
    await s.vm?.kill();
    setInstalledFacts(ctx.guest, out.results);
    rt.info(`${(ctx.guest.artifacts ?? []).filter((a) => a.kind !== 'file').map((a) => a.path).join(', ')} installed and smoke-tested on ${ctx.guest.kernel}`);
  },
};
