// The NoCloud seed of a validation boot: a new instance-id (so cloud-init runs its per-instance
// modules: fresh host keys, our user) and one throw-away user with passwordless sudo and an
// ephemeral key. It deliberately leaves sshd's settings alone (no ssh_pwauth), so the
// production checks see the image's own configuration.
import { randomUUID } from 'node:crypto';
import type { SeedInput } from '../tools/seed.js';

export const VALIDATION_USER = 'vexfs-validate';

export function validationSeed(publicKey: string, instanceId = `vexfs-validate-${randomUUID()}`): SeedInput {
  return {
    metaData: { 'instance-id': instanceId, 'local-hostname': 'vexfs-validate' },
    userData: {
      users: [
        {
          name: VALIDATION_USER,
          gecos: 'vexfs-image validation',
          shell: '/bin/bash',
          sudo: 'ALL=(ALL) NOPASSWD:ALL',
          lock_passwd: true,
          ssh_authorized_keys: [publicKey],
        },
      ],
      // sudo warns on every call when the host name does not resolve.
      manage_etc_hosts: 'localhost',
      package_update: false,
      package_upgrade: false,
    },
  };
}
