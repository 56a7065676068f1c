// Stage 2, cloud-init: the build VM's seed — user-data generated as data (packages, the payload's
// files, the build user with the session's ephemeral key) and a fresh instance-id.
import { randomUUID } from 'node:crypto';
import type { BuildPlan } from '../config/load.js';
import type { SeedInput } from '../tools/seed.js';
import { buildUserData, builderUserData, loadPayloadFiles, templateVars, type GuestFile } from './user-data.js';
import { sourceDateEpoch, sourceFacts } from '../supply/source.js';

/**
 * The payload's files as the image gets them. {{build_date}} is SOURCE_DATE_EPOCH (the source
 * commit's time unless set): two builds of the same source install the same files, and a new
 * commit changes them (an incremental build writes them again).
 */
export async function payloadFiles(plan: Readonly<BuildPlan>, startedAt: Date): Promise<GuestFile[]> {
  const epoch = sourceDateEpoch(process.env, await sourceFacts(plan.sourceDir));
  const buildDate = epoch !== undefined ? new Date(epoch * 1000) : startedAt;
  return loadPayloadFiles(plan.payload, templateVars(plan, buildDate));
}

/** The build VM's hostname (cloud-init's local-hostname), part of a snapshot's key too. */
export const buildHostname = (plan: Pick<BuildPlan, 'variantName'>): string => `vexfs-${plan.variantName}`;

/** snapshotable: the seed of a VM that may be saved as a snapshot, without the payload (builderUserData). */
export function buildSeed(plan: Readonly<BuildPlan>, startedAt: Date, snapshotable = false): (publicKey: string) => Promise<SeedInput> {
  return async (publicKey) => {
    return {
      userData: snapshotable ? builderUserData(plan, publicKey) : buildUserData(plan, publicKey, await payloadFiles(plan, startedAt)),
      metaData: { 'instance-id': `vexfs-build-${randomUUID()}`, 'local-hostname': buildHostname(plan) },
    };
  };
}
