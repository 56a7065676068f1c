// The NoCloud seed of a `run`: a new instance-id every time (cloud-init then runs its
// per-instance modules: fresh host keys, our user), one login user with passwordless sudo and
// the instance's ephemeral key. Like the validation seed, it leaves sshd's settings alone.
import { randomUUID } from 'node:crypto';
import type { SeedInput } from '../tools/seed.js';

export function runSeed(publicKey: string, opts: { user: string; hostname: string; instanceId?: string }): SeedInput {
  return {
    metaData: { 'instance-id': opts.instanceId ?? `vexfs-run-${randomUUID()}`, 'local-hostname': opts.hostname },
    userData: {
      users: [
        {
          name: opts.user,
          gecos: 'vexfs-image run',
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
