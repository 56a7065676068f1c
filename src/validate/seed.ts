// The NoCloud seed of a validation boot: a new instance-id and one throw-away user with an
// ephemeral key (tools/seed.ts accessSeed). It deliberately leaves sshd's settings alone, so
// the production checks see the image's own configuration.
import { randomUUID } from 'node:crypto';
import { accessSeed, type SeedInput } from '../tools/seed.js';

export const VALIDATION_USER = 'vexfs-validate';

export function validationSeed(publicKey: string, instanceId = `vexfs-validate-${randomUUID()}`): SeedInput {
  return accessSeed({ instanceId, hostname: 'vexfs-validate', user: VALIDATION_USER, gecos: 'vexfs-image validation', publicKey });
}
