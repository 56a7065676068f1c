import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { freePort } from '../../../src/tools/ports.js';

test('freePort: a port that can be bound on 127.0.0.1 right away; distinct across calls', async () => {
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  for (const p of ports) assert.ok(Number.isInteger(p) && p > 1024 && p < 65536, `port ${p}`);
  assert.equal(new Set(ports).size, 3);
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(ports[0], '127.0.0.1', () => resolve());
  });
  await new Promise((r) => srv.close(r));
});
