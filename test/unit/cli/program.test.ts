// The commander program in-process: parsing, exit-code mapping and one-line messages for bad input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { buildProgram, COMMANDS } from '../../../src/cli/program.js';
import type { CliContext } from '../../../src/cli/context.js';
import { describeError, exitCodeFor, exitCodeForOutcome } from '../../../src/cli/exit-codes.js';
import { PACKAGE_VERSION } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function context(env: NodeJS.ProcessEnv = {}): CliContext & { out: Capture; err: Capture; codes: number[] } {
  const out = new Capture();
  const err = new Capture();
  const codes: number[] = [];
  return { signal: new AbortController().signal, env, stdout: out, stderr: err as unknown as NodeJS.WriteStream, setOutcome: (o) => codes.push(exitCodeForOutcome(o)), out, err, codes };
}

/** Parses argv like main does; returns the exit code main would use and the message it would print. */
async function parse(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; message: string; out: string; err: string }> {
  const ctx = context(env);
  try {
    await buildProgram(ctx).parseAsync(argv, { from: 'user' });
    return { code: Math.max(0, ...ctx.codes), message: '', out: ctx.out.text, err: ctx.err.text };
  } catch (e) {
    return { code: exitCodeFor(e), message: describeError(e), out: ctx.out.text, err: ctx.err.text };
  }
}

test('every subcommand of the issue that exists has a description and help examples', () => {
  const program = buildProgram(context());
  assert.ok(COMMANDS.length >= 1);
  for (const cmd of program.commands) {
    assert.ok(cmd.description().length > 10, cmd.name());
    let help = '';
    cmd.configureOutput({ writeOut: (s) => (help += s) });
    cmd.outputHelp();
    assert.match(help, /Examples:\n {2}\$ vexfs-image /, `${cmd.name()} --help has no examples`);
  }
});

test('--version and --help: exit 0, output on stdout, nothing on stderr', async () => {
  const v = await parse(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.out, `${PACKAGE_VERSION}\n`);
  const h = await parse(['--help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /Usage: vexfs-image/);
  assert.match(h.out, /Examples:/);
  for (const cmd of buildProgram(context()).commands) assert.match(h.out, new RegExp(`^ {2}${cmd.name()} `, 'm'), cmd.name());
  assert.equal(h.err, '');
});

describe('bad usage: exit 2 and a one-line message', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--bogus'], /^unknown option '--bogus'$/],
    [['frobnicate'], /^unknown command 'frobnicate'/],
    [['doctor', '--bogus'], /^unknown option '--bogus'$/],
    [['doctor', '--cache-dir'], /^option '--cache-dir <dir>' argument missing$/],
  ];
  for (const [argv, pattern] of cases) {
    test(argv.join(' '), async () => {
      const r = await parse(argv);
      assert.equal(r.code, 2);
      assert.match(r.message, pattern);
      assert.ok(!r.message.includes('\n'));
      assert.equal(r.out, '');
      assert.equal(r.err, '', 'commander prints nothing itself: main prints the one line');
    });
  }
});

describe('bad build input: exit 2, one line naming the problem, nothing written', () => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    ['variant with a slash', ['--variant', 'a/b'], {}, /^invalid variant name "a\/b" \(from --variant\)/],
    ['variant ..', ['--variant', '..'], {}, /^invalid variant name "\.\." \(from --variant\)/],
    ['variant with a space', ['--variant', 'a b'], {}, /^invalid variant name "a b"/],
    ['variant with shell metacharacters (env)', [], { IMAGE_VARIANT: '$(x)' }, /^invalid variant name "\$\(x\)" \(from IMAGE_VARIANT\)/],
    ['unknown variant', ['--variant', 'huge'], {}, /^unknown variant "huge" \(from --variant\): known variants are minimal, development, production \(define it under "variants:"/],
    ['version with a slash', ['--version', 'a/b'], {}, /^invalid version "a\/b" \(from --version\)/],
    ['version ..', ['--version', '..'], {}, /^invalid version "\.\."/],
    ['version with a space', ['--version', '1 0'], {}, /^invalid version "1 0"/],
    ['version with ; (env)', [], { VEXFS_VERSION: '1;rm' }, /^invalid version "1;rm" \(from VEXFS_VERSION\)/],
    ['version with $( )', ['--version', '$(x)'], {}, /^invalid version "\$\(x\)"/],
    ['unknown flag', ['--colour', 'red'], {}, /^unknown option '--colour'/],
    ['bad number', ['--memory', 'lots'], {}, /--memory must be a whole number of at least 512, got "lots"/],
    ['missing source', ['--source', '/nonexistent/vexfs'], {}, /^source directory \/nonexistent\/vexfs does not exist/],
  ];
  for (const [name, args, env, pattern] of cases) {
    test(name, async () => {
      const cache = tempDir();
      const cwd = process.cwd();
      const work = tempDir();
      process.chdir(work); // relative output/build dirs would land here
      try {
        const r = await parse(['build', ...args], { VEXFS_IMAGE_CACHE_DIR: cache, ...env });
        assert.equal(r.code, 2, r.message);
        assert.match(r.message, pattern);
        assert.ok(!r.message.includes('\n'), r.message);
        assert.equal(r.out, '');
      } finally {
        process.chdir(cwd);
      }
      assert.deepEqual(readdirSync(work), [], 'nothing written in the working directory');
      assert.deepEqual(readdirSync(cache), [], 'nothing written in the cache');
    });
  }
});
