import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandError, VexfsImageError } from '../../../src/errors.js';
import { isNoSpace, reportingNoSpace } from '../../../src/builder/no-space.js';
import type { BuildContext } from '../../../src/builder/context.js';
import type { StepRuntime } from '../../../src/pipeline/step.js';

test('ENOSPC is recognised as an errno, in a child tool\'s stderr, or as a cause', () => {
  assert.equal(isNoSpace(Object.assign(new Error('write failed'), { code: 'ENOSPC' })), true);
  assert.equal(isNoSpace(new Error('qemu-img: error while writing sector 1: No space left on device')), true);
  assert.equal(isNoSpace(new Error('outer', { cause: Object.assign(new Error('x'), { code: 'ENOSPC' }) })), true);
  assert.equal(isNoSpace(new Error('EACCES: permission denied')), false);
  assert.equal(isNoSpace('No space left on device'), false);
});

test('a finalise that runs out of space fails with the output directory and "nothing was published"', async () => {
  const step = reportingNoSpace({
    name: 'finalise',
    title: 'Finalise',
    run: async () => {
      throw new CommandError(['gzip'], 1, null, 'gzip: stdout: No space left on device');
    },
  });
  const ctx = { plan: { outputDir: '/tmp' }, imageName: 'vexfs-minimal-1.0.0' } as unknown as BuildContext;
  await assert.rejects(step.run(ctx, {} as StepRuntime), (e: unknown) => e instanceof VexfsImageError && /^no space left in \/tmp while writing vexfs-minimal-1\.0\.0 \(.* free\): nothing was published$/.test(e.message));
  const other = reportingNoSpace({ name: 'finalise', title: 'F', run: async () => { throw new Error('boom'); } });
  await assert.rejects(other.run(ctx, {} as StepRuntime), /^Error: boom$/);
});
