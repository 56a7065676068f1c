// Builds the commander program. Exported (and unit-tested) separately from the bin entry point.
import { Command, Option } from 'commander';
import { PACKAGE_VERSION } from '../paths.js';
import type { CliContext, RegisterCommand } from './context.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerValidate } from './commands/validate.js';
import { register as registerBuild } from './commands/build.js';
import { register as registerCi } from './commands/ci.js';
import { register as registerBase } from './commands/base.js';
import { register as registerCache } from './commands/cache.js';
import { register as registerRun } from './commands/run.js';
import { register as registerSsh } from './commands/ssh.js';
import { register as registerInit } from './commands/init.js';
import { register as registerTest } from './commands/test.js';
import { register as registerDiff } from './commands/diff.js';

export const COMMANDS: RegisterCommand[] = [registerBuild, registerValidate, registerTest, registerRun, registerSsh, registerCi, registerBase, registerCache, registerDoctor, registerInit, registerDiff];

export function buildProgram(ctx: CliContext, commands: RegisterCommand[] = COMMANDS): Command {
  const program = new Command('vexfs-image')
    .description('Build and validate VexFS virtual-machine images with QEMU and cloud-init')
    .version(PACKAGE_VERSION, '-V, --version', 'print the vexfs-image version')
    .addOption(new Option('-q, --quiet', 'no progress output on stderr'))
    // Program options only before the subcommand: `build --version 1.1.0` is the build's flag.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      // main prints the error itself, once, with the exit-code mapping.
      outputError: () => undefined,
    });
  program.addHelpText(
    'after',
    `
Examples:
  $ vexfs-image doctor                 check host tools and the accelerator
  $ vexfs-image doctor --install       install missing Debian packages (as root)`,
  );
  for (const register of commands) register(program, ctx);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => undefined, writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  return program;
}
