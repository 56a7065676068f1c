// binfmt_misc for a foreign-architecture base: the kernel hands the chroot's arm64 binaries to
// qemu-user-static, so mmdebstrap's maintainer scripts and the customize hook run on the host
// (qemu-user translates the instructions and nothing else: ~10x faster than dpkg inside a TCG
// guest, where every system call is emulated too). Needs root, like building a base does.
import { existsSync, readFileSync } from 'node:fs';
import { PreconditionError } from '../errors.js';
import { run, type ExecOptions } from './exec.js';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';

/** binfmt-support's name for the qemu-user entry of a `uname -m` machine: qemu-aarch64. */
export const binfmtEntry = (uname: string): string => `qemu-${uname}`;

/** Whether the entry is registered and enabled (its /proc file's first line is "enabled"). */
export function binfmtEnabled(uname: string, dir = BINFMT_DIR): boolean {
  const f = `${dir}/${binfmtEntry(uname)}`;
  return existsSync(f) && readFileSync(f, 'utf8').split('\n')[0]?.trim() === 'enabled';
}

/** Mounts binfmt_misc when it is not, and enables qemu-user's entry (binfmt-support's update-binfmts). */
export async function ensureBinfmt(uname: string, opts: ExecOptions = {}): Promise<void> {
  if (binfmtEnabled(uname)) return;
  if (!existsSync(`${BINFMT_DIR}/register`)) {
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', BINFMT_DIR], { timeoutMs: 30_000, ...opts });
  }
  if (!binfmtEnabled(uname)) await run('update-binfmts', ['--enable', binfmtEntry(uname)], { timeoutMs: 30_000, allowFailure: true, ...opts });
  if (!binfmtEnabled(uname)) {
    throw new PreconditionError(`binfmt_misc does not run ${uname} binaries through qemu-user (${BINFMT_DIR}/${binfmtEntry(uname)} is not enabled)`, {
      hint: `apt-get install qemu-user-static binfmt-support, then update-binfmts --enable ${binfmtEntry(uname)}`,
    });
  }
}
