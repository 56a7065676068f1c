// Stage 2, cloud-init: the build VM's seed — user-data generated as data (packages, the payload's
// files, the build user with the session's ephemeral key) and a fresh instance-id.
import { randomUUID } from 'node:crypto';
import type { BuildPlan } from '../config/load.js';
import type { SeedInput } from '../tools/seed.js';
import { buildUserData, loadPayloadFiles, templateVars } from './user-data.js';
import { sourceDateEpoch, sourceFacts } from '../supply/source.js';

export function buildSeed(plan: Readonly<BuildPlan>, startedAt: Date): (publicKey: string) => Promise<SeedInput> {
  return async (publicKey) => {
    // {{build_date}} is SOURCE_DATE_EPOCH (the source commit's time unless set): two builds of
    // the same source install the same files.
    const epoch = sourceDateEpoch(process.env, await sourceFacts(plan.sourceDir));
    const buildDate = epoch !== undefined ? new Date(epoch * 1000) : startedAt;
    return {
      userData: buildUserData(plan, publicKey, await loadPayloadFiles(plan.payload, templateVars(plan, buildDate))),
      metaData: { 'instance-id': `vexfs-build-${randomUUID()}`, 'local-hostname': `vexfs-${plan.variantName}` },
    };
  };
}
