// A full output disk during finalise is said as that, with the numbers, instead of a raw ENOSPC
// or a qemu-img/gzip error text. Finalise publishes atomically (a hidden partial directory,
// renamed in last), and its cleanup removes that directory, so nothing is left at a final path.
import { VexfsImageError } from '../errors.js';
import type { Step } from '../pipeline/step.js';
import { freeBytes } from '../tools/free-space.js';
import { formatBytes } from '../ui/format.js';
import type { BuildContext } from './context.js';

export function isNoSpace(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return true;
  const text = `${e.message}\n${(e as { stderrTail?: string }).stderrTail ?? ''}`;
  return /No space left on device|ENOSPC/.test(text) || isNoSpace(e.cause);
}

export function reportingNoSpace(step: Step<BuildContext>): Step<BuildContext> {
  return {
    ...step,
    async run(ctx, rt) {
      try {
        await step.run(ctx, rt);
      } catch (e) {
        if (!isNoSpace(e)) throw e;
        const free = await freeBytes(ctx.plan.outputDir).catch(() => undefined);
        throw new VexfsImageError('E_NO_SPACE', `no space left in ${ctx.plan.outputDir} while writing ${ctx.imageName}${free === undefined ? '' : ` (${formatBytes(free)} free)`}: nothing was published`, {
          cause: e,
          hint: 'free some space there (or pass another --output-dir) and build again',
        });
      }
    },
  };
}
