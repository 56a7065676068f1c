// Stage 2, cloud-init: an ephemeral build key, user-data generated as data, the seed ISO.
import { randomUUID } from 'node:crypto';
import { makeSeedIso } from '../tools/seed.js';
import { generateKey } from '../tools/ssh.js';
import type { Step } from '../pipeline/step.js';
import { buildUserData, loadPayloadFiles, templateVars } from './user-data.js';
import type { BuildContext } from './context.js';

export const seedStep: Step<BuildContext> = {
  name: 'cloud-init',
  title: 'cloud-init seed',
  async run(ctx, rt) {
    ctx.key = await generateKey(ctx.vmDir, { signal: rt.signal });
    const files = await loadPayloadFiles(ctx.plan.payload, templateVars(ctx.plan, ctx.startedAt));
    const userData = buildUserData(ctx.plan, ctx.key.publicKey, files);
    ctx.seedIso = await makeSeedIso(
      ctx.vmDir,
      { userData, metaData: { 'instance-id': `vexfs-build-${randomUUID()}`, 'local-hostname': `vexfs-${ctx.plan.variantName}` } },
      { signal: rt.signal, logFile: rt.logFile },
    );
  },
};
