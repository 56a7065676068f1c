// The NoCloud seed of a validation boot: a new instance-id and one throw-away user with an
// ephemeral key (tools/seed.ts accessSeed). For production images it also asks for password
// login, so the production checks see the hardening hold against a seed that wants it off.
import { randomUUID } from 'node:crypto';
import { accessSeed, type SeedInput } from '../tools/seed.js';

export const VALIDATION_USER = 'vexfs-validate';

/**
 * hostile: also ask for password login (ssh_pwauth: true), as a careless deployment seed would.
 * Production images are validated so: their sshd-no-password-login check then proves that the
 * hardening wins over any later seed, not only over the image's own defaults.
 */
export function validationSeed(publicKey: string, o: { hostile?: boolean; instanceId?: string } = {}): SeedInput {
  const instanceId = o.instanceId ?? `vexfs-validate-${randomUUID()}`;
  const seed = accessSeed({ instanceId, hostname: 'vexfs-validate', user: VALIDATION_USER, gecos: 'vexfs-image validation', publicKey });
  if (o.hostile) seed.userData.ssh_pwauth = true;
  return seed;
}

/** The variants validated with the hostile seed (those whose checks forbid password login). */
export const HOSTILE_SEED_VARIANTS: ReadonlySet<string> = new Set(['production']);
