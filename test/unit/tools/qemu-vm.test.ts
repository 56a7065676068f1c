// The Vm handle against a fake QEMU (a small Node script): QMP start-up, ACPI powerdown,
// SIGTERM fallback, start-up failures, and boot-failure detection on the serial log.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Vm, VmExitedError, type VmSpec } from '../../../src/tools/qemu.js';
import { liveChildren } from '../../../src/tools/exec.js';
import { isAlive, tempDir } from '../../helpers/fs.js';
import { profileFor } from '../../../src/vm/profile.js';
import { writeFakeQemu, type FakeQemuMode } from '../../helpers/fake-qemu.js';

/** A fake qemu-system-x86_64 in dir (see test/helpers/fake-qemu.ts); its pid goes to dir/pid. */
function fakeQemu(dir: string, mode: FakeQemuMode): string {
  return writeFakeQemu(join(dir, `qemu-${mode}`), { qmpLog: join(dir, 'qmp.log'), pidFile: join(dir, 'pid'), mode });
}

function spec(dir: string): VmSpec {
  return { name: 't', profile: profileFor('tcg', 256, 1), drives: [], serialLog: join(dir, 'serial.log'), qmpSocket: join(dir, 'qmp.sock') };
}

const qmpLog = (dir: string): string[] => {
  try {
    return readFileSync(join(dir, 'qmp.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe('Vm with a fake QEMU', { timeout: 30_000 }, () => {
  test('start connects QMP; shutdown is an ACPI powerdown, clean; safe to call twice', async () => {
    const dir = tempDir();
    const vm = await Vm.start(spec(dir), { binary: fakeQemu(dir, 'ok'), logFile: join(dir, 'qemu.log') });
    assert.equal(vm.isRunning(), true);
    await vm.assertHealthy();
    assert.match(await vm.serial(), /Linux version/);
    assert.equal(await vm.shutdown(5000), true);
    assert.deepEqual(qmpLog(dir), ['qmp_capabilities', 'system_powerdown']);
    assert.equal(vm.isRunning(), false);
    assert.equal(await vm.shutdown(5000), true);
    assert.equal(liveChildren(), 0);
  });

  test('prefix: QEMU runs through a wrapper that execs it (setpriv --pdeathsig), same pid', async (t) => {
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
    if (!setpriv) return t.skip('no setpriv (util-linux) here');
    const dir = tempDir();
    const vm = await Vm.start(spec(dir), { binary: fakeQemu(dir, 'ok'), prefix: [setpriv, '--pdeathsig', 'KILL', '--'] });
    assert.equal(String(vm.proc.pid), readFileSync(join(dir, 'pid'), 'utf8'), 'the recorded pid is QEMU itself');
    assert.equal(await vm.shutdown(5000), true);
  });

  test('a guest that ignores the powerdown: SIGTERM after the timeout, reported as not clean', async () => {
    const dir = tempDir();
    const vm = await Vm.start(spec(dir), { binary: fakeQemu(dir, 'ignore-powerdown') });
    const pid = vm.proc.pid!;
    assert.equal(await vm.shutdown(300), false);
    assert.deepEqual(qmpLog(dir), ['qmp_capabilities', 'system_powerdown', 'SIGTERM']);
    assert.equal(isAlive(pid), false);
  });

  test('QEMU dying at start-up: VmExitedError with its stderr, nothing left running', async () => {
    const dir = tempDir();
    await assert.rejects(Vm.start(spec(dir), { binary: fakeQemu(dir, 'die'), logFile: join(dir, 'qemu.log') }), (e: unknown) => {
      assert.ok(e instanceof VmExitedError);
      assert.match(e.message, /QEMU exited at start-up: .*Could not open \/x/s);
      assert.doesNotMatch(e.message, /^\$ /m, 'the logged command line is not shown as the cause');
      assert.match(e.hint ?? '', /qemu\.log/);
      return true;
    });
    assert.equal(liveChildren(), 0);
  });

  test('a kernel panic on the serial console: assertHealthy throws with the line and the log path', async () => {
    const dir = tempDir();
    const vm = await Vm.start(spec(dir), { binary: fakeQemu(dir, 'panic') });
    try {
      await assert.rejects(vm.assertHealthy(), (e: unknown) => {
        assert.ok(e instanceof VmExitedError);
        assert.match(e.message, /guest boot failed: kernel panic \(Kernel panic - not syncing: VFS: Unable to mount root fs\)/);
        assert.match(e.hint ?? '', /serial\.log/);
        return true;
      });
    } finally {
      await vm.kill();
    }
    assert.equal(vm.isRunning(), false);
    await assert.rejects(vm.assertHealthy(), VmExitedError);
  });
});
