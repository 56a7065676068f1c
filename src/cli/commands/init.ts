// `vexfs-image init`: writes a commented vexfs-image.yaml for a source tree; never overwrites one.
import { writeFileSync } from 'node:fs';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_FILE_NAME, parseConfigText } from '../../config/load.js';
import { UsageError } from '../../errors.js';
import { renderInitConfig } from '../../init/render.js';
import { scanTree } from '../../init/scan.js';
import type { CliContext } from '../context.js';

export function initConfig(source: string): { path: string; text: string; modules: string[] } {
  if (!existsSync(source) || !statSync(source).isDirectory()) throw new UsageError(`source directory ${source} does not exist`);
  const path = join(source, CONFIG_FILE_NAME);
  if (existsSync(path)) throw new UsageError(`${path} already exists: init never overwrites a config`, { hint: 'edit it, or move it away and run init again' });
  const scan = scanTree(source);
  const text = renderInitConfig(scan, source);
  // What init writes must load: a scan it cannot express is a bug here, not the user's problem.
  parseConfigText(text, `${path} (as init would write it)`);
  writeFileSync(path, text, { flag: 'wx' });
  return { path, text, modules: scan.modules.map((m) => m.name) };
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('write a commented vexfs-image.yaml for a source tree (modules, build target, tools it finds); never overwrites one')
    .option('--source <dir>', 'the source tree (default: the current directory)')
    .addHelpText(
      'after',
      `
Examples:
  $ vexfs-image init --source ~/src/mymodule
  $ vexfs-image build --source ~/src/mymodule --variant minimal`,
    )
    .action((o: { source?: string }) => {
      const r = initConfig(resolve(process.cwd(), o.source ?? '.'));
      ctx.stderr.write(`found module(s): ${r.modules.join(', ') || 'none'}; review the "guessed" lines\n`);
      ctx.stdout.write(`${r.path}\n`);
    });
}
