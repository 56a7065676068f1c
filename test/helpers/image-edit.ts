// Edits a copy of an image offline, without booting or mounting it: qcow2 -> raw, debugfs on the
// root (largest) partition at its offset, -> qcow2. Used to make broken images for e2e tests.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../../src/tools/exec.js';

export type Debugfs = (args: string[]) => Promise<string>;

export async function breakCopy(src: string, dst: string, edit: (debugfs: Debugfs, kernel: string) => Promise<void>): Promise<void> {
  const raw = `${dst}.raw`;
  await mkdir(dirname(dst), { recursive: true });
  await run('qemu-img', ['convert', '-O', 'raw', src, raw], { timeoutMs: 300_000 });
  const pt = JSON.parse((await run('sfdisk', ['--json', raw])).stdout) as { partitiontable: { sectorsize?: number; partitions: Array<{ start: number; size: number }> } };
  const part = [...pt.partitiontable.partitions].sort((a, b) => b.size - a.size)[0]!;
  const dev = `${raw}?offset=${part.start * (pt.partitiontable.sectorsize ?? 512)}`;
  const debugfs: Debugfs = async (args) => {
    const r = await run('debugfs', [...args, dev]);
    assert.doesNotMatch(r.stderr, /not found|No such file|Could not allocate/i, `debugfs ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const kernels = (await debugfs(['-R', 'ls /usr/lib/modules'])).split(/\s+/).filter((w) => /^\d+\.\d+/.test(w));
  assert.equal(kernels.length, 1, `one kernel in the image: ${kernels.join(' ')}`);
  await edit(debugfs, kernels[0]!);
  await run('qemu-img', ['convert', '-O', 'qcow2', raw, dst], { timeoutMs: 300_000 });
  await rm(raw, { force: true });
}

/** Runs debugfs -w with these commands (written to a file in dir). */
export async function debugfsWrite(debugfs: Debugfs, dir: string, commands: string[]): Promise<void> {
  const cmds = join(dir, `debugfs-${process.pid}-${Date.now()}.cmds`);
  await writeFile(cmds, `${commands.join('\n')}\n`);
  try {
    await debugfs(['-w', '-f', cmds]);
  } finally {
    await rm(cmds, { force: true });
  }
}

/** Rewrites /boot/grub/grub.cfg with edit(cfg); dir holds the temporary copy. */
export async function editGrubCfg(debugfs: Debugfs, dir: string, edit: (cfg: string) => string): Promise<void> {
  const local = join(dir, `grub-${process.pid}-${Date.now()}.cfg`);
  await debugfs(['-R', `dump /boot/grub/grub.cfg ${local}`]);
  const before = await readFile(local, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, 'the grub.cfg edit changed nothing');
  await writeFile(local, after);
  await debugfsWrite(debugfs, dir, ['rm /boot/grub/grub.cfg', `write ${local} /boot/grub/grub.cfg`]);
  await rm(local, { force: true });
}
