// The NoCloud seed of a `run`: a new instance-id every time, one login user with passwordless
// sudo and the instance's ephemeral key (tools/seed.ts accessSeed, as validation uses).
import { randomUUID } from 'node:crypto';
import { accessSeed, type SeedInput } from '../tools/seed.js';

export function runSeed(publicKey: string, opts: { user: string; hostname: string; instanceId?: string }): SeedInput {
  return accessSeed({
    instanceId: opts.instanceId ?? `vexfs-run-${randomUUID()}`,
    hostname: opts.hostname,
    user: opts.user,
    gecos: 'vexfs-image run',
    publicKey,
  });
}
