import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkShellScripts, findShellScripts } from '../../../src/ci/prechecks.js';
import { tempDir } from '../../helpers/fs.js';

const hasShellcheck = spawnSync('shellcheck', ['--version']).status === 0;

function tree(files: Record<string, string>): string {
  const dir = tempDir('vexfs-guest-');
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), body);
  }
  return dir;
}

test('finds *.sh and shebang scripts, not other files', () => {
  const dir = tree({ 'build/a.sh': 'echo a\n', 'bin/helper': '#!/bin/sh\necho h\n', 'bin/env-helper': '#!/usr/bin/env bash\necho h\n', 'checks/x.yaml': 'a: 1\n', 'files/conf': 'x=1\n' });
  assert.deepEqual(findShellScripts(dir).map((p) => p.slice(dir.length + 1)), ['bin/env-helper', 'bin/helper', 'build/a.sh']);
});

test('the project guest scripts pass', async () => {
  const r = await checkShellScripts();
  assert.ok(r.scripts >= 5);
  assert.equal(r.shellcheck, hasShellcheck ? 'passed' : 'not installed');
});

test('a syntax error fails with bash -n naming the file', async () => {
  const dir = tree({ 'build/ok.sh': '#!/bin/bash\necho ok\n', 'build/broken.sh': '#!/bin/bash\nif true; then\necho\n' });
  await assert.rejects(checkShellScripts({ dir }), /do not parse \(bash -n\): build\/broken.sh/);
});

test('shellcheck warnings fail (when shellcheck is installed); style notes do not', { skip: !hasShellcheck && 'shellcheck not installed' }, async () => {
  const style = tree({ 'a.sh': '#!/bin/bash\nx="`date`"\necho "$x"\n' });
  assert.equal((await checkShellScripts({ dir: style })).shellcheck, 'passed');
  const warn = tree({ 'a.sh': '#!/bin/bash\nrm -rf "$undefined_dir"/*\nx=1\n' });
  await assert.rejects(checkShellScripts({ dir: warn }), /shellcheck found \d+ problem\(s\).*a.sh:\d+:\d+: warning/);
});
