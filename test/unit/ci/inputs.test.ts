import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveCiInputs, selectVariants, versionFromTag } from '../../../src/ci/inputs.js';

const noGit = async (): Promise<undefined> => undefined;

test('the spec variables win: CI_TAG v1.2.3 gives 1.2.3, CI_BUILD_NUMBER, CI_COMMIT_SHA', async () => {
  const i = await resolveCiInputs({ CI_TAG: 'v1.2.3', CI_BUILD_NUMBER: '123', CI_COMMIT_SHA: 'ABCDEF1234567', GITHUB_SHA: 'f'.repeat(40), GITHUB_RUN_NUMBER: '9' }, { gitHead: noGit });
  assert.equal(i.version, '1.2.3');
  assert.equal(i.versionFrom, 'CI_TAG');
  assert.equal(i.tag, 'v1.2.3');
  assert.equal(i.buildNumber, '123');
  assert.equal(i.commitSha, 'abcdef1234567');
});

test('GitHub Actions variables: run number, sha, tag ref', async () => {
  const i = await resolveCiInputs({ GITHUB_ACTIONS: 'true', GITHUB_RUN_NUMBER: '42', GITHUB_SHA: 'c'.repeat(40), GITHUB_REF_TYPE: 'tag', GITHUB_REF_NAME: 'v2.0.0-rc1' }, { gitHead: noGit });
  assert.equal(i.provider, 'github-actions');
  assert.deepEqual([i.buildNumber, i.commitSha, i.version, i.tag], ['42', 'c'.repeat(40), '2.0.0-rc1', 'v2.0.0-rc1']);
  const branch = await resolveCiInputs({ GITHUB_ACTIONS: 'true', GITHUB_REF_TYPE: 'branch', GITHUB_REF_NAME: 'main' }, { gitHead: noGit });
  assert.equal(branch.tag, null);
  assert.equal(branch.version, undefined);
});

test('GitLab CI variables: pipeline iid, CI_COMMIT_SHA, CI_COMMIT_TAG', async () => {
  const i = await resolveCiInputs({ GITLAB_CI: 'true', CI_PIPELINE_IID: '77', CI_COMMIT_SHA: 'd'.repeat(40), CI_COMMIT_TAG: 'v3.1.4' }, { gitHead: noGit });
  assert.deepEqual([i.provider, i.buildNumber, i.commitSha, i.version], ['gitlab-ci', '77', 'd'.repeat(40), '3.1.4']);
});

test('falls back to git rev-parse HEAD, then to nothing', async () => {
  const dirs: string[] = [];
  const i = await resolveCiInputs({}, { gitDirs: ['/a', '/b'], gitHead: async (d) => (dirs.push(d), d === '/b' ? 'e'.repeat(40) : undefined) });
  assert.deepEqual(dirs, ['/a', '/b']);
  assert.equal(i.commitSha, 'e'.repeat(40));
  assert.match(i.commitShaFrom, /git rev-parse HEAD \(\/b\)/);
  assert.equal(i.buildNumber, 'local');
  assert.equal(i.provider, 'local');
  const none = await resolveCiInputs({}, { gitHead: noGit });
  assert.equal(none.commitSha, null);
});

test('the real git fallback reads this checkout', async () => {
  const i = await resolveCiInputs({}, { gitDirs: [process.cwd()] });
  assert.match(i.commitSha ?? '', /^[0-9a-f]{40}$/);
});

test('version precedence: --version > VEXFS_VERSION > tag', async () => {
  assert.equal((await resolveCiInputs({ CI_TAG: 'v1.0.0', VEXFS_VERSION: '1.1.0' }, { gitHead: noGit })).version, '1.1.0');
  assert.equal((await resolveCiInputs({ CI_TAG: 'v1.0.0', VEXFS_VERSION: '1.1.0' }, { version: '2.0.0', gitHead: noGit })).version, '2.0.0');
});

test('bad input is a usage error naming its source', async () => {
  assert.throws(() => versionFromTag('release-foo'), /tag "release-foo" \(from CI_TAG\) is not a version tag/);
  await assert.rejects(resolveCiInputs({ CI_TAG: 'v1.0;rm' }, { gitHead: noGit }), /invalid version "1.0;rm" \(from CI_TAG\)/);
  await assert.rejects(resolveCiInputs({ VEXFS_VERSION: '..' }, { gitHead: noGit }), /from VEXFS_VERSION/);
  await assert.rejects(resolveCiInputs({ CI_COMMIT_SHA: 'not-a-sha' }, { gitHead: noGit }), /invalid commit sha/);
  // A non-version tag does not matter when VEXFS_VERSION decides.
  assert.equal((await resolveCiInputs({ CI_TAG: 'nightly', VEXFS_VERSION: '1.0.0' }, { gitHead: noGit })).version, '1.0.0');
});

test('--variant: repeated and comma-separated, order kept, duplicates dropped, default all', () => {
  const known = ['minimal', 'development', 'production', 'custom-one'];
  assert.deepEqual(selectVariants(['production,minimal', 'minimal', ' custom-one '], known), ['production', 'minimal', 'custom-one']);
  assert.deepEqual(selectVariants([], known), known);
  assert.throws(() => selectVariants(['nope'], known), /unknown variant "nope".*known variants are minimal, development, production, custom-one/);
  assert.throws(() => selectVariants(['A/b'], known), /invalid variant name/);
  assert.throws(() => selectVariants([','], known), /no variant named/);
});
