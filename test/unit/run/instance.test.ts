// The run lifecycle against a fake QEMU and a fake ssh (on PATH; qemu-img, ssh-keygen and
// cloud-localds are the real ones): ready, Ctrl-C (ACPI powerdown), the guest powering itself
// off, a boot failure (logs copied out, or kept with --no-cleanup), an unreadable image.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { AbortedError, GuestError, UsageError } from '../../../src/errors.js';
import { runInstance, type RunInstanceOptions } from '../../../src/run/instance.js';
import { profileFor } from '../../../src/vm/profile.js';
import type { InstanceState } from '../../../src/run/state.js';
import { liveChildren, run } from '../../../src/tools/exec.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';
import { writeFakeQemu } from '../../helpers/fake-qemu.js';

const bin = tempDir('vexfs-run-bin-');
const qmpLog = join(bin, 'qmp.log');
// A fake qemu-system-x86_64 that behaves as $FAKE_QEMU_MODE says.
writeFakeQemu(join(bin, 'qemu-system-x86_64'), { qmpLog });
// ssh: every connection works (SSH up, cloud-init done, host key recorded).
fakeBin(bin, 'ssh', 'exit 0');

const path = process.env.PATH;
before(() => {
  process.env.PATH = `${bin}${delimiter}${path}`;
});
after(() => {
  process.env.PATH = path;
  delete process.env.FAKE_QEMU_MODE;
});

async function image(): Promise<string> {
  const p = join(tempDir(), 'vexfs-minimal-1.0.0.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', p, '64M']);
  return p;
}

function options(img: string, cacheDir: string, over: Partial<RunInstanceOptions> = {}): RunInstanceOptions & { infos: string[] } {
  const infos: string[] = [];
  return {
    image: img,
    name: 'dev',
    user: 'vexfs',
    profile: profileFor('tcg', 256, 1),
    bootTimeoutS: 20,
    sshTimeoutS: 10,
    shutdownTimeoutS: 5,
    cacheDir,
    noCleanup: false,
    signal: new AbortController().signal,
    onInfo: (m) => infos.push(m),
    onReady: () => undefined,
    infos,
    ...over,
  };
}

describe('runInstance with a fake QEMU', { timeout: 60_000 }, () => {
  test('ready, then Ctrl-C: the state while running, ACPI powerdown, AbortedError, nothing left', async () => {
    process.env.FAKE_QEMU_MODE = 'ok';
    writeFileSync(qmpLog, '');
    const img = await image();
    const cache = tempDir();
    const ac = new AbortController();
    let seen: { state: InstanceState; files: string[]; keyMode: number; onDisk: InstanceState } | undefined;
    const o = options(img, cache, {
      signal: ac.signal,
      onReady: (state, dir) => {
        seen = {
          state: { ...state },
          files: readdirSync(dir).sort(),
          keyMode: statSync(state.key).mode & 0o777,
          onDisk: JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as InstanceState,
        };
        setTimeout(() => ac.abort(), 100);
      },
    });
    await assert.rejects(runInstance(o), AbortedError);
    assert.ok(seen, 'onReady was called');
    const dir = join(cache, 'instances', 'dev');
    assert.deepEqual(seen.files, ['id_ed25519', 'id_ed25519.pub', 'known_hosts', 'meta-data', 'overlay.qcow2', 'qemu.log', 'qmp.sock', 'seed.iso', 'serial.log', 'state.json', 'steps', 'user-data']);
    assert.equal(seen.keyMode, 0o600);
    assert.equal(seen.state.status, 'ready');
    assert.deepEqual(seen.onDisk, seen.state);
    assert.equal(seen.state.pid, process.pid);
    assert.ok(seen.state.qemuPid && seen.state.sshPort);
    assert.equal(seen.state.key, join(dir, 'id_ed25519'));
    assert.deepEqual(readFileSync(qmpLog, 'utf8').trim().split('\n'), ['qmp_capabilities', 'system_powerdown']);
    assert.ok(o.infos.some((m) => /powering off \(ACPI, up to 5 s\)/.test(m)), o.infos.join('\n'));
    assert.equal(existsSync(dir), false, 'the instance directory is removed');
    assert.equal(liveChildren(), 0);
  });

  test('the guest powering itself off ends the run normally (a cache path too long for the QMP socket)', async () => {
    process.env.FAKE_QEMU_MODE = 'poweroff';
    const cache = join(tempDir(), 'c'.repeat(100));
    let qmpSocket = '';
    const r = await runInstance(options(await image(), cache, { onReady: () => (qmpSocket = readFileSync(join(cache, 'instances', 'dev', 'qemu.log'), 'utf8')) }));
    assert.equal(r.poweredOff, true);
    const sock = /-qmp unix:(\S+?),/.exec(qmpSocket)?.[1] ?? '';
    assert.ok(sock.length < 108 && sock.startsWith(join(tmpdir(), 'vxs-')), sock);
    assert.equal(existsSync(dirname(sock)), false, 'the socket directory is removed');
    assert.equal(existsSync(join(cache, 'instances', 'dev')), false);
    assert.equal(liveChildren(), 0);
  });

  test('Ctrl-C while starting: AbortedError saying so, QEMU killed, nothing left', async () => {
    process.env.FAKE_QEMU_MODE = 'ok';
    const cache = tempDir();
    const ac = new AbortController();
    let ready = false;
    const o = options(await image(), cache, {
      signal: ac.signal,
      onInfo: (m) => {
        if (m.startsWith('QEMU (')) ac.abort();
      },
      onReady: () => (ready = true),
    });
    await assert.rejects(runInstance(o), (e: unknown) => e instanceof AbortedError && e.message === 'interrupted while dev was starting');
    assert.equal(ready, false);
    assert.equal(existsSync(join(cache, 'instances', 'dev')), false);
    assert.equal(liveChildren(), 0);
  });

  test('a kernel panic: GuestError naming it, the serial log copied out and named in the hint', async () => {
    process.env.FAKE_QEMU_MODE = 'panic';
    const cache = tempDir();
    let kept: string | undefined;
    await assert.rejects(runInstance(options(await image(), cache)), (e: unknown) => {
      assert.ok(e instanceof GuestError);
      assert.match(e.message, /^dev did not come up: guest boot failed: kernel panic \(Kernel panic - not syncing: VFS: Unable to mount root fs\)\n--- last serial lines ---\n/);
      const m = /^serial log kept at (\S+), QEMU's log at (\S+)$/.exec(e.hint ?? '');
      assert.ok(m, e.hint);
      assert.match(readFileSync(m[1]!, 'utf8'), /Kernel panic/);
      assert.ok(existsSync(m[2]!));
      kept = dirname(m[1]!);
      return true;
    });
    assert.match(kept ?? '', /\/vexfs-image-run-dev-\d{8}T\d{6}Z-\w{6}$/);
    await rm(kept!, { recursive: true, force: true });
    assert.equal(existsSync(join(cache, 'instances', 'dev')), false);
    assert.equal(liveChildren(), 0);
  });

  test('--no-cleanup: a boot failure keeps the instance directory, and the hint points into it', async () => {
    process.env.FAKE_QEMU_MODE = 'panic';
    const cache = tempDir();
    const dir = join(cache, 'instances', 'dev');
    await assert.rejects(runInstance(options(await image(), cache, { noCleanup: true })), (e: unknown) => {
      assert.ok(e instanceof GuestError);
      assert.equal(e.hint, `serial log kept at ${dir}/serial.log, QEMU's log at ${dir}/qemu.log`);
      return true;
    });
    assert.ok(existsSync(join(dir, 'overlay.qcow2')));
    assert.equal(liveChildren(), 0);
  });

  test('an image qemu-img cannot read: UsageError, no instance directory', async () => {
    const cache = tempDir();
    const bad = join(tempDir(), 'missing.qcow2');
    await assert.rejects(runInstance(options(bad, cache)), UsageError);
    assert.equal(existsSync(join(cache, 'instances')), false);
  });
});
