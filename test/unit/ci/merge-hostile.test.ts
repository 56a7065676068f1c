// `ci merge` with hostile shards: a symlink (or a FIFO) anywhere in a shard is refused before
// anything is merged, and report strings carrying markup land escaped in the HTML reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mergeShards, type MergeOptions } from '../../../src/ci/merge.js';
import { runCi } from '../../../src/ci/orchestrator.js';
import { UsageError } from '../../../src/errors.js';
import { silentSink } from '../../../src/pipeline/events.js';
import { tempDir } from '../../helpers/fs.js';
import { fakeDeps } from './fakes.js';

async function shard(dir: string, variant: string): Promise<string> {
  const root = join(dir, 'shards', `ci-${variant}`);
  await runCi(
    {
      variants: [variant], jobs: 1, failFast: false, artifactsDir: root, force: false,
      buildFlags: { buildDir: join(dir, `build-${variant}`), cacheDir: join(dir, 'cache') },
      env: { CI_TAG: 'v1.0.0', CI_BUILD_NUMBER: '123', CI_COMMIT_SHA: 'c'.repeat(40) },
      cwd: dir, signal: new AbortController().signal, emit: silentSink,
    },
    fakeDeps({}),
  );
  return root;
}

const opts = (dir: string, shards: string[], over: Partial<MergeOptions> = {}): MergeOptions => ({ shards, artifactsDir: join(dir, 'merged'), force: false, verify: false, env: {}, cwd: dir, emit: silentSink, ...over });

for (const where of ['images/vexfs-minimal-1.0.0.qcow2', 'logs/minimal/stolen.log', 'logs/ci.log']) {
  test(`a symlink to a host file at ${where} is refused (--no-verify too) and nothing is merged`, async () => {
    const dir = tempDir('vexfs-merge-');
    const s = await shard(dir, 'minimal');
    const p = join(s, where);
    if (existsSync(p)) (await import('node:fs')).rmSync(p);
    symlinkSync('/etc/shadow', p);
    await assert.rejects(mergeShards(opts(dir, [s])), (e: unknown) => {
      assert.ok(e instanceof UsageError);
      assert.equal(e.message, `ci merge: ${where} in shard ${s} is a symbolic link to /etc/shadow; a shard may hold only regular files and directories, so it was not merged.`);
      return true;
    });
    assert.equal(existsSync(join(dir, 'merged')), false, 'refused before the output was created');
  });
}

test('a named pipe in a shard is refused (a read would hang); a shard that is a file is refused', async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shard(dir, 'minimal');
  assert.equal(spawnSync('mkfifo', [join(s, 'logs', 'pipe')]).status, 0);
  await assert.rejects(mergeShards(opts(dir, [s])), /logs\/pipe in shard .* is a named pipe/);
  writeFileSync(join(dir, 'afile'), '');
  await assert.rejects(mergeShards(opts(dir, [join(dir, 'afile')], { artifactsDir: join(dir, 'm2') })), /shard .*afile is not a directory/);
});

test("a shard's report strings with <script> land escaped in the merged HTML reports", async () => {
  const dir = tempDir('vexfs-merge-');
  const s = await shard(dir, 'minimal');
  const XSS = '<script>alert(1)</script>';
  const IMG = '<img src=x onerror=alert(2)>';
  const reportPath = join(s, 'reports', 'validation.json');
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  report.images[0].name = `evil${XSS}`;
  report.images[0].checks[0].id = `id${XSS}`;
  report.images[0].checks[0].description = `desc${IMG}`;
  report.images[0].checks[0].message = `msg${XSS}`;
  report.images[0].checks[0].stdout = `out${XSS}`;
  writeFileSync(reportPath, JSON.stringify(report));
  const manifestPath = join(s, 'build-manifest.json');
  const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
  m.host = `host${XSS}`;
  m.images[0].name = `img${IMG}`;
  m.stages[0].detail = `detail${XSS}`;
  writeFileSync(manifestPath, JSON.stringify(m));
  await mergeShards(opts(dir, [s]));
  const reports = join(dir, 'merged', 'reports');
  const htmls = readdirSync(reports).filter((n) => n.endsWith('.html'));
  assert.ok(htmls.length >= 2, htmls.join(','));
  for (const n of htmls) {
    const html = readFileSync(join(reports, n), 'utf8');
    assert.ok(!/<script/i.test(html), `${n} has a <script> element`);
    assert.ok(!/<img/i.test(html), `${n} has an <img> element`);
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${n} shows the text escaped`);
  }
});
