// A minimal QMP (QEMU Machine Protocol) client over a unix socket: greeting, capabilities
// negotiation, then one command at a time. Used for ACPI powerdown and status queries.
import { connect, type Socket } from 'node:net';
import { TimeoutError } from '../errors.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class QmpClient {
  private buf = '';
  private queue: Pending[] = [];
  private greeted: Promise<void>;
  readonly events: Array<{ event: string; timestamp?: unknown; data?: unknown }> = [];

  private constructor(private readonly sock: Socket) {
    let onGreeting!: () => void;
    this.greeted = new Promise((r) => (onGreeting = r));
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('QMP' in msg) onGreeting();
        else if ('event' in msg) this.events.push(msg as { event: string });
        else if ('return' in msg) this.queue.shift()?.resolve(msg.return);
        else if ('error' in msg) {
          const err = msg.error as { desc?: string };
          this.queue.shift()?.reject(new Error(`QMP error: ${err.desc ?? JSON.stringify(err)}`));
        }
      }
    });
    const fail = (): void => {
      for (const p of this.queue.splice(0)) p.reject(new Error('QMP connection closed'));
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  /** Connects, retrying until the socket exists, and negotiates capabilities. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(sock);
        await client.greeted;
        await client.execute('qmp_capabilities');
        return client;
      } catch (e) {
        if (Date.now() > deadline) throw new TimeoutError(`QMP socket ${path} not ready after ${timeoutMs} ms`, { cause: e });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject });
      this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}
