// Session step: an ephemeral ed25519 key (0600, never reused) and the cloud-init NoCloud seed
// that lets it in (the caller's seed: build user-data, or a throw-away access user), with a new
// instance-id so cloud-init runs its per-instance modules on this boot.
import { LOOPBACK } from '../../tools/ports.js';
import { makeSeedIso } from '../../tools/seed.js';
import { generateKey } from '../../tools/ssh.js';
import type { Step } from '../../pipeline/step.js';
import type { HasSession } from '../session.js';

export const accessSeedStep: Step<HasSession> = {
  name: 'access-seed',
  title: 'cloud-init seed and ephemeral key',
  async run({ session: s }, rt) {
    const restore = s.restoreFrom;
    if (restore) {
      // A restored VM is already past cloud-init: its seed and key are the snapshot's (kept with
      // it in the cache, 0600), and what it finished is that instance-id.
      s.instanceId = restore.instanceId;
      s.seedIso = restore.seedIso;
      s.ssh = { host: LOOPBACK, port: 0, user: s.opts.user, key: restore.key };
      rt.info(`seed and key of the snapshot (instance ${restore.instanceId})`);
      return;
    }
    const key = await generateKey(s.opts.dir, { signal: rt.signal });
    const seed = await s.opts.seed(key.publicKey);
    s.instanceId = seed.metaData['instance-id'];
    s.seedIso = await makeSeedIso(s.opts.dir, seed, { signal: rt.signal, logFile: rt.logFile });
    // The port is known once QEMU is about to start (boot step).
    s.ssh = { host: LOOPBACK, port: 0, user: s.opts.user, key };
  },
};
