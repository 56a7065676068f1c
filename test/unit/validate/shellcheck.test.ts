// The guest's check functions and runner are real shell files (guest/checks/*.sh), so shellcheck
// sees them: any finding, of any severity, fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../src/tools/exec.js';
import { CHECKS_DIR } from '../../../src/validate/guest-exec.js';
import { tempDir } from '../../helpers/fs.js';

const scripts = readdirSync(CHECKS_DIR)
  .filter((n) => n.endsWith('.sh'))
  .sort()
  .map((n) => join(CHECKS_DIR, n));

async function shellcheck(files: string[]) {
  const r = await run('shellcheck', ['--format=gcc', ...files], { allowFailure: true, timeoutMs: 120_000 }).catch((e: unknown) => {
    throw new Error(`shellcheck could not run (Debian package shellcheck; bash scripts/install-host-deps.sh installs it): ${e instanceof Error ? e.message : String(e)}`);
  });
  return { exitCode: r.exitCode, findings: r.stdout.trim().split('\n').filter(Boolean) };
}

test('shellcheck finds nothing in guest/checks/*.sh', async () => {
  assert.ok(scripts.length >= 7, `the runner and the check functions: ${scripts.join(' ')}`);
  const r = await shellcheck(scripts);
  assert.deepEqual(r.findings, []);
  assert.equal(r.exitCode, 0);
});

test('the same shellcheck call reports a style note in a file like them', async () => {
  const dir = tempDir('vx-shellcheck-');
  const bad = join(dir, 'bad.sh');
  writeFileSync(bad, '# shellcheck shell=bash\ncheck_x() { local a; a=$1; echo $a; }\n');
  const r = await shellcheck([bad]);
  assert.notEqual(r.exitCode, 0);
  assert.match(r.findings.join('\n'), /bad\.sh:2:\d+: note: Double quote to prevent globbing/);
});
