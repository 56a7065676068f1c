// A fake qemu-system-x86_64 for unit tests (a small Node script): serves QMP on the -qmp socket,
// writes the -chardev serial file, logs each QMP command (and a SIGTERM) to qmpLog, exits on
// system_powerdown, and answers the forwarded SSH port with an SSH banner (not when panicking).
// The mode is fixed at creation or, when not given, read from $FAKE_QEMU_MODE when it starts: ok, ignore-powerdown, die (start-up error), panic (kernel
// panic on the serial console), poweroff (the guest powers itself off after 1.5 s).
import { chmodSync, writeFileSync } from 'node:fs';

export type FakeQemuMode = 'ok' | 'ignore-powerdown' | 'die' | 'panic' | 'poweroff';

export function writeFakeQemu(path: string, o: { qmpLog: string; pidFile?: string; mode?: FakeQemuMode }): string {
  writeFileSync(
    path,
    `#!${process.execPath}
const net = require('node:net');
const fs = require('node:fs');
const args = process.argv.slice(2);
const val = (flag) => args[args.indexOf(flag) + 1];
const qmp = /^unix:([^,]+)/.exec(val('-qmp'))[1];
const serial = /path=([^,]+)/.exec(val('-chardev'))[1];
const mode = ${o.mode ? JSON.stringify(o.mode) : 'process.env.FAKE_QEMU_MODE'};
const log = (m) => fs.appendFileSync(${JSON.stringify(o.qmpLog)}, m + '\\n');
${o.pidFile ? `fs.writeFileSync(${JSON.stringify(o.pidFile)}, String(process.pid));` : ''}
if (mode === 'die') { console.error('qemu-system-x86_64: -drive file=/x: Could not open /x: No such file'); process.exit(1); }
fs.writeFileSync(serial, mode === 'panic' ? 'Linux version 6.1\\r\\nKernel panic - not syncing: VFS: Unable to mount root fs\\r\\n' : 'Linux version 6.1\\r\\n');
net.createServer((s) => {
  s.write(JSON.stringify({ QMP: { version: {}, capabilities: [] } }) + '\\r\\n');
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\\n')) >= 0) {
      const cmd = JSON.parse(buf.slice(0, i)).execute;
      buf = buf.slice(i + 1);
      log(cmd);
      s.write(JSON.stringify({ return: {} }) + '\\r\\n');
      if (cmd === 'system_powerdown' && mode !== 'ignore-powerdown') setTimeout(() => process.exit(0), 50);
    }
  });
}).listen(qmp);
// The guest's sshd, as far as a banner goes: the forwarded port answers like OpenSSH.
const fwd = /hostfwd=tcp:([0-9.]+):(\\d+)-/.exec(val('-netdev') || '');
if (fwd && mode !== 'panic') net.createServer((s) => s.end('SSH-2.0-OpenSSH_fake\\r\\n')).listen(Number(fwd[2]), fwd[1]);
if (mode === 'poweroff') setTimeout(() => process.exit(0), 1500);
process.on('SIGTERM', () => { log('SIGTERM'); process.exit(143); });
setInterval(() => {}, 1000);
`,
  );
  chmodSync(path, 0o755);
  return path;
}
