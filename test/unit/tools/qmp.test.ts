import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { QmpClient } from '../../../src/tools/qmp.js';
import { TimeoutError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/fs.js';

/** A fake QEMU QMP endpoint: greets, answers commands, records what it received. */
function fakeQmp(path: string, received: string[]): Promise<Server> {
  const srv = createServer((sock: Socket) => {
    sock.write('{"QMP": {"version": {"qemu": {"major": 7}}, "capabilities": []}}\r\n');
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, nl)) as { execute: string; arguments?: unknown };
        buf = buf.slice(nl + 1);
        received.push(msg.execute);
        if (msg.execute === 'query-status') {
          // An asynchronous event arrives before the reply: it must not be taken as the answer.
          sock.write('{"event": "RTC_CHANGE", "data": {"offset": 0}}\r\n');
          sock.write('{"return": {"status": "running", "running": true}}\r\n');
        } else if (msg.execute === 'bogus') sock.write('{"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}}\r\n');
        else if (msg.execute === 'hangup') sock.destroy();
        else sock.write('{"return": {}}\r\n');
      }
    });
  });
  return new Promise((resolve) => srv.listen(path, () => resolve(srv)));
}

describe('QmpClient', { timeout: 20_000 }, () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  test('negotiates capabilities, returns results, keeps events, rejects QMP errors', async () => {
    const path = join(tempDir(), 'qmp.sock');
    const received: string[] = [];
    servers.push(await fakeQmp(path, received));
    const c = await QmpClient.connect(path, 2000);
    assert.deepEqual(received, ['qmp_capabilities']);
    assert.deepEqual(await c.execute('query-status'), { status: 'running', running: true });
    assert.deepEqual(c.events.map((e) => e.event), ['RTC_CHANGE']);
    await assert.rejects(c.execute('bogus'), /QMP error: The command bogus has not been found/);
    assert.deepEqual(await c.execute('system_powerdown'), {});
    assert.deepEqual(received, ['qmp_capabilities', 'query-status', 'bogus', 'system_powerdown']);
    await assert.rejects(c.execute('hangup'), /QMP connection closed/);
    c.close();
  });

  test('connect waits for the socket to appear (QEMU still starting)', async () => {
    const path = join(tempDir(), 'late.sock');
    setTimeout(() => void fakeQmp(path, []).then((s) => servers.push(s)), 300);
    const c = await QmpClient.connect(path, 5000);
    c.close();
  });

  test('connect gives up with TimeoutError naming the socket', async () => {
    const path = join(tempDir(), 'never.sock');
    const t0 = Date.now();
    await assert.rejects(QmpClient.connect(path, 300), (e: unknown) => e instanceof TimeoutError && e.message.includes(path));
    assert.ok(Date.now() - t0 < 3000);
  });
});
