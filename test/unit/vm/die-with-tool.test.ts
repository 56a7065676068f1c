// No QEMU outlives the tool, SIGKILL included: Vm.start runs QEMU under `setpriv --pdeathsig
// KILL`, so the kernel kills it when the process that started it dies. A child process starts a
// (fake) QEMU through Vm.start and is SIGKILLed; the QEMU must be gone within a second or two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { writeFakeQemu } from '../../helpers/fake-qemu.js';
import { tempDir } from '../../helpers/fs.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('SIGKILL of the process that started QEMU kills QEMU too (pdeathsig)', { skip: process.platform !== 'linux' }, async () => {
  const dir = tempDir();
  const qemu = writeFakeQemu(join(dir, 'qemu'), { qmpLog: join(dir, 'qmp.log'), pidFile: join(dir, 'qemu.pid'), mode: 'ok' });
  const driver = join(dir, 'driver.mts');
  writeFileSync(
    driver,
    `import { Vm } from ${JSON.stringify(join(PACKAGE_ROOT, 'src/tools/qemu.ts'))};
import { profileFor } from ${JSON.stringify(join(PACKAGE_ROOT, 'src/vm/profile.ts'))};
await Vm.start({ name: 't', profile: profileFor('tcg', 256, 1), drives: [], serialLog: ${JSON.stringify(join(dir, 'serial.log'))}, qmpSocket: ${JSON.stringify(join(dir, 'qmp.sock'))} }, { binary: ${JSON.stringify(qemu)} });
console.log('started');
setInterval(() => {}, 1000);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', driver], { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('started') && resolve());
    child.on('exit', (c) => reject(new Error(`driver exited ${c} before QEMU started`)));
  });
  assert.ok(existsSync(join(dir, 'qemu.pid')));
  const qemuPid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8'));
  assert.ok(alive(qemuPid), 'QEMU runs while the tool does');
  child.kill('SIGKILL');
  const deadline = Date.now() + 5000;
  while (alive(qemuPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(alive(qemuPid), false, `QEMU (pid ${qemuPid}) outlived the SIGKILLed tool`);
});
