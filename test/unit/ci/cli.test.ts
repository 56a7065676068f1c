// The `ci` command's input handling through the real bin (no VM is started: each case stops
// at or before the pre-build checks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';

const SCRIPT = join(PACKAGE_ROOT, 'test_env', 'ci_build_pipeline.sh');

function run(args: string[], env: Record<string, string> = {}) {
  const dir = tempDir('vexfs-ci-cli-');
  const r = spawnSync(SCRIPT, [...args, '--artifacts-dir', join(dir, 'a'), '--build-dir', join(dir, 'b')], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, CI: 'true', VEXFS_VERSION: '', CI_TAG: '', CI_BUILD_NUMBER: '', ...env },
    timeout: 120_000,
  });
  return { ...r, dir, artifacts: join(dir, 'a') };
}

test('bad flags and bad inputs: exit 2, one line, nothing written', () => {
  const cases: Array<[string[], Record<string, string>, RegExp]> = [
    [['--jobs', '0'], {}, /--jobs must be a whole number of at least 1/],
    [['--bogus'], {}, /unknown option '--bogus'/],
    [[], { CI_TAG: 'nightly' }, /tag "nightly" \(from CI_TAG\) is not a version tag/],
    [[], { VEXFS_VERSION: '1.0;rm' }, /invalid version "1.0;rm" \(from VEXFS_VERSION\)/],
    [['--version', '..'], {}, /invalid version/],
  ];
  for (const [args, env, re] of cases) {
    const r = run(args, env);
    assert.equal(r.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: exit ${r.status}\n${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').filter((l) => !l.startsWith('hint:')).length, 1, `more than one line: ${r.stderr}`);
    assert.ok(!existsSync(r.artifacts), `${args.join(' ')} wrote artifacts`);
  }
});

test('an unknown variant is bad input found before the pipeline starts: exit 2, one line, no artifacts written', () => {
  const r = run(['--variant', 'minimal', '--variant', 'nope'], { CI_TAG: 'v1.0.0', CI_BUILD_NUMBER: '123' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /unknown variant "nope" \(from --variant\): known variants are minimal, development, production/);
  assert.equal(r.stdout, '');
  assert.ok(!existsSync(r.artifacts), 'no artifacts directory (issue 15: reject before writing)');
});

test('--help documents the inputs, the exit status and the merge subcommand', () => {
  const r = spawnSync(join(PACKAGE_ROOT, 'bin', 'vexfs-image'), ['ci', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  for (const s of ['CI_TAG', 'CI_BUILD_NUMBER', 'CI_COMMIT_SHA', 'VEXFS_VERSION', '--fail-fast', '--jobs', 'merge', 'Exit status']) assert.ok(r.stdout.includes(s), s);
});
