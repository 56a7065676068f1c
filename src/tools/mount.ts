// umount: lazy unmounts of what a chroot left mounted (mmdebstrap's root mode bind mounts).
import { run } from './exec.js';

/** `umount --lazy MOUNTPOINT`; a failure is left for the caller to see in /proc/self/mounts. */
export async function lazyUnmount(mountpoint: string): Promise<void> {
  await run('umount', ['--lazy', mountpoint], { allowFailure: true, timeoutMs: 30_000 });
}
