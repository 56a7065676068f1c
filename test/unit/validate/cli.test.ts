import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tempDir } from '../../helpers/fs.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildProgram } from '../../../src/cli/program.js';
import type { CliContext } from '../../../src/cli/context.js';
import { register, toValidateOptions, type ValidateCliOptions } from '../../../src/cli/commands/validate.js';


function context(env: NodeJS.ProcessEnv = {}) {
  let out = '';
  const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
  const ctx: CliContext = { signal: new AbortController().signal, env, stdout, stderr: process.stderr, setOutcome: () => undefined };
  return { ctx, out: () => out };
}

const defaults: ValidateCliOptions = { imagesDir: 'images', bootTimeout: 300, sshTimeout: 60, cleanup: true, reportDir: 'validation-report', format: ['json,junit,md,html'], jobs: 1 };

test("toValidateOptions: the spec's defaults, GITHUB_STEP_SUMMARY, formats", () => {
  const o = toValidateOptions([], defaults, { env: { GITHUB_STEP_SUMMARY: '/tmp/s.md' } });
  assert.equal(o.bootTimeoutS, 300);
  assert.equal(o.sshTimeoutS, 60);
  assert.equal(o.noCleanup, false);
  assert.deepEqual(o.formats, ['json', 'junit', 'md', 'html']);
  assert.equal(o.githubStepSummary, '/tmp/s.md');
  assert.equal(toValidateOptions([], { ...defaults, format: ['junit', 'md'] }, { env: {} }).githubStepSummary, undefined);
});

test('toValidateOptions: --checks replaces the built-in list', async () => {
  const dir = await tempDir('vx-cli-');
  await writeFile(join(dir, 'c.yaml'), '- { id: only, type: command, command: "true" }\n');
  const o = toValidateOptions([], { ...defaults, checks: 'c.yaml' }, { env: {} }, dir);
  assert.deepEqual(o.checks?.map((c) => c.id), ['only']);
  assert.throws(() => toValidateOptions([], { ...defaults, checks: 'missing.yaml' }, { env: {} }, dir), /cannot read/);
});

test('the program parses the spec flags and hands them to the action', async () => {
  const { ctx } = context();
  let seen: { images: string[]; o: ValidateCliOptions } | undefined;
  const program = buildProgram(ctx, [
    (p, c) => {
      register(p, c);
      const cmd = p.commands.find((x) => x.name() === 'validate')!;
      cmd.action((images: string[], o: ValidateCliOptions) => {
        seen = { images, o };
      });
    },
  ]);
  await program.parseAsync(
    ['validate', 'vexfs-production-1.0.0.qcow2', '-d', 'out', '--boot-timeout', '600', '--ssh-timeout', '120', '--no-cleanup', '-v', '--format', 'junit', '--format', 'md', '--jobs', '2', '--report-dir', 'r'],
    { from: 'user' },
  );
  assert.deepEqual(seen?.images, ['vexfs-production-1.0.0.qcow2']);
  const o = seen!.o;
  assert.deepEqual([o.imagesDir, o.bootTimeout, o.sshTimeout, o.cleanup, o.verbose, o.format, o.jobs, o.reportDir], ['out', 600, 120, false, true, ['junit', 'md'], 2, 'r']);
});

test('bad flag values are usage errors', async () => {
  for (const argv of [
    ['validate', '--boot-timeout', 'soon'],
    ['validate', '--jobs', '0'],
    ['validate', '--format', 'pdf'],
  ]) {
    const { ctx } = context();
    await assert.rejects(buildProgram(ctx, [register]).parseAsync(argv, { from: 'user' }), { name: 'CommanderError' }, argv.join(' '));
  }
});

test('--list-checks prints the list for a variant without booting anything', async () => {
  const { ctx, out } = context();
  await buildProgram(ctx, [register]).parseAsync(['validate', '--list-checks', '--variant', 'minimal'], { from: 'user' });
  const ids = out()
    .trim()
    .split('\n')
    .map((l) => l.split(/\s+/)[0]);
  assert.ok(ids.includes('module-load'));
  assert.ok(!ids.includes('hardening-sysctls'));
  assert.equal(ids.at(-1), 'kernel-log');
});
