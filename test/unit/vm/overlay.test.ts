// The session's overlay step is where every VM's disk is made: a backing chain that reaches a
// host file outside the image's directory is refused there (UsageError), before any overlay
// exists; a good image gets an overlay backed by it, grown when asked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../../src/errors.js';
import { run } from '../../../src/tools/exec.js';
import { imageInfo } from '../../../src/tools/qemu-img.js';
import { profileFor } from '../../../src/vm/profile.js';
import { newSession, type HasSession } from '../../../src/vm/session.js';
import { overlayStep } from '../../../src/vm/steps/overlay.js';
import { tempDir } from '../../helpers/fs.js';

function ctxFor(dir: string, backing: string, diskSizeBytes?: number): HasSession {
  const session = newSession({
    name: 't',
    profile: profileFor('tcg', 256, 1),
    dir,
    user: 'u',
    seed: () => ({ userData: {}, metaData: { 'instance-id': 'i', 'local-hostname': 'h' } }),
    ...(diskSizeBytes ? { diskSizeBytes } : {}),
    bootTimeoutMs: 1000,
    timeoutHint: '',
    network: 'isolated',
    cloudInitErrors: 'record',
    powerOff: 'kill',
    killOnAbort: true,
  });
  session.backing = { path: backing, format: 'qcow2' };
  return { session };
}

const rt = { signal: new AbortController().signal, logFile: '/dev/null', emit: () => undefined, info: () => undefined, warn: () => undefined };

test('a backing file outside the image directory (/etc/shadow) is refused before any overlay is made', async () => {
  const img = join(tempDir(), 'evil.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', '/etc/shadow', img, '64M']);
  const work = tempDir();
  const ctx = ctxFor(work, img);
  await assert.rejects(overlayStep.run(ctx, rt), (e: unknown) => e instanceof UsageError && /\/etc\/shadow/.test(e.message));
  assert.equal(existsSync(join(work, 'overlay.qcow2')), false);
});

test('a plain image gets an overlay backed by it, grown to the asked size', async () => {
  const img = join(tempDir(), 'good.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
  const ctx = ctxFor(tempDir(), img, 128 * 2 ** 20);
  await overlayStep.run(ctx, rt);
  const info = await imageInfo(ctx.session.overlay!);
  assert.equal(info.backingFile, img);
  assert.equal(info.virtualSize, 128 * 2 ** 20);
});
