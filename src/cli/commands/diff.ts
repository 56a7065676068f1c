// `vexfs-image diff A B`: what differs between two images, without booting them (src/supply/diff.ts).
// Exit 0 when they are the same, 1 when they differ, 2 on bad input.
import type { Command } from 'commander';
import { tmpdir } from 'node:os';
import { diffImages, diffText } from '../../supply/diff.js';
import type { CliContext } from '../context.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('diff')
    .description('what differs between two images (files, packages, modes, sizes, module vermagic), read without booting them')
    .argument('<a>', 'first image (qcow2 or raw)')
    .argument('<b>', 'second image')
    .option('--json', 'print the differences as JSON')
    .option('--times', 'compare modification times too')
    .option('--tmp-dir <dir>', 'where the images are unpacked for the comparison (default: the system temp directory)')
    .addHelpText(
      'after',
      `
Exit status: 0 the same, 1 they differ, 2 bad input.

Examples:
  $ vexfs-image diff images/vexfs-minimal-1.0.0.qcow2 other/vexfs-minimal-1.0.0.qcow2
  $ vexfs-image diff a.qcow2 b.qcow2 --json | jq '.files[].path'`,
    )
    .action(async (a: string, b: string, opts: { json?: boolean; times?: boolean; tmpDir?: string }) => {
      const d = await diffImages(a, b, { times: opts.times, tmpDir: opts.tmpDir ?? tmpdir(), signal: ctx.signal });
      ctx.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : diffText(d));
      ctx.setOutcome(d.same ? 'ok' : 'failed');
    });
}
