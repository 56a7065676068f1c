// sfdisk: a partition table written into a disk image file (the kernel is never told: there is
// no block device).
import { run, type ExecOptions } from './exec.js';

export async function partitionImage(image: string, script: string, opts: ExecOptions = {}): Promise<void> {
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], { timeoutMs: 60_000, ...opts, input: script });
}
