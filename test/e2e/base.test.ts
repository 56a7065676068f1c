// End-to-end: build (or reuse from the shared cache) the debian-13 base, boot it under QEMU
// through its own boot loader with a fresh NoCloud seed and an ephemeral key, log in over SSH
// and check what a cloud image must be on first boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBase } from '../../src/base/index.js';
import { defaultCacheDir } from '../../src/paths.js';
import { createOverlay, imageInfo } from '../../src/tools/qemu-img.js';
import { makeSeedIso } from '../../src/tools/seed.js';
import { generateKey, sshExec, waitForSsh, type SshTarget } from '../../src/tools/ssh.js';
import { freePort } from '../../src/tools/ports.js';
import { Vm } from '../../src/tools/qemu.js';
import { profileFor } from '../../src/vm/profile.js';
import { extraOnly } from '../helpers/extra.js';

/** Every path under dir with its type, size and mtime: what apt-get update or clean would change. */
function treeState(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.isDirectory() ? 'd' : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

// A base build once emptied the host's /var/lib/apt/lists (customize.sh removed the new root's
// /tmp, where mmdebstrap keeps APT_CONFIG, so its closing apt-get update and clean ran on the host).
test('a Debian base build leaves the host\'s apt lists and cache as they were', { timeout: 1_800_000 }, async (t) => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'vxb-apt-'));
  t.after(() => rmSync(cacheDir, { recursive: true, force: true }));
  const watched = ['/var/lib/apt/lists', '/var/cache/apt'];
  const before = watched.map(treeState);
  assert.ok(before[0]!.some((l) => l.includes('_Packages')), 'the host has apt lists to lose (run apt-get update first)');
  const started = Date.now();
  // A fresh cache directory: this is a real build, never a cache hit.
  const base = await resolveBase('debian-12', { cacheDir });
  assert.equal(base.cached, false);
  t.diagnostic(`debian-12 base built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  watched.forEach((dir, i) => assert.deepEqual(treeState(dir), before[i], `${dir} changed during a base build`));
});

// The base's own boot (GRUB, cloud-init's statuses, machine-id) is also what validate.test.ts's
// base checks and run-ssh.test.ts boot through the CLI; this low-level view is VEXFS_E2E_EXTRA only.
test('debian-13 base: boots by itself, cloud-init done, fresh machine-id, SSH with an ephemeral key', { skip: extraOnly, timeout: 2_400_000 }, async (t) => {
  const started = Date.now();
  const base = await resolveBase('debian-13', {
    cacheDir: defaultCacheDir(),
    onInfo: (m) => t.diagnostic(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${m}`),
  });
  t.diagnostic(`base ${base.cached ? 'from cache' : 'built'} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${base.path}`);
  assert.equal(base.format, 'qcow2');
  assert.ok(base.virtualSize < 10 * 2 ** 30, 'the base is stored small; overlays grow it');
  const baseBytes = (await imageInfo(base.path)).actualSize;
  t.diagnostic(`base qcow2: ${(baseBytes / 1e6).toFixed(0)} MB on disk`);
  assert.ok(baseBytes <= 450e6, `base is ${baseBytes} bytes, over 450 MB`);

  // Short path: the QMP socket must fit in sun_path.
  const dir = mkdtempSync(join(tmpdir(), 'vxb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const overlay = join(dir, 'disk.qcow2');
  await createOverlay(base.path, overlay, { sizeBytes: 10 * 2 ** 30 });
  const key = await generateKey(dir);
  const seed = await makeSeedIso(dir, {
    userData: {
      users: [{ name: 'vexfs', sudo: 'ALL=(ALL) NOPASSWD:ALL', shell: '/bin/bash', ssh_authorized_keys: [key.publicKey] }],
    },
    metaData: { 'instance-id': `iid-${randomUUID()}`, 'local-hostname': 'vexfs-base-e2e' },
  });
  const port = await freePort();
  const serialLog = join(dir, 'serial.log');
  const bootStart = Date.now();
  // No kernel, initrd or append: the disk's own GRUB must boot it.
  const vm = await Vm.start(
    { name: 'vexfs-base-e2e', profile: profileFor('tcg', 2048, 2), drives: [{ file: overlay, format: 'qcow2', discard: true }], seedIso: seed, sshPort: port, serialLog, qmpSocket: join(dir, 'qmp.sock') },
    { logFile: join(dir, 'qemu.log') },
  );
  t.after(() => vm.kill());
  const target: SshTarget = { host: '127.0.0.1', port, user: 'vexfs', key };
  try {
    await waitForSsh(target, { timeoutMs: 900_000, check: () => vm.assertHealthy() });
  } catch (e) {
    t.diagnostic(await vm.serialTail(40));
    throw e;
  }
  const sshMs = Date.now() - bootStart;
  // SSH can answer before cloud-init's last stages, which may restart sshd: retry connection
  // failures (ssh's own exit code 255) for a while, never command failures.
  const sh = async (cmd: string): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      const r = await sshExec(target, cmd, { timeoutMs: 600_000, allowFailure: true });
      if (r.exitCode === 0) return r.stdout.trim();
      if (r.exitCode !== 255 || attempt >= 10) throw new Error(`${cmd}: exit ${r.exitCode}\n${r.stderr}`);
      await new Promise((res) => setTimeout(res, 3000));
    }
  };

  // cloud-init finished, without errors or recoverable errors (warnings).
  await sh('cloud-init status --wait >/dev/null || true');
  const doneMs = Date.now() - bootStart;
  t.diagnostic(`first boot: SSH after ${(sshMs / 1000).toFixed(0)} s, cloud-init done after ${(doneMs / 1000).toFixed(0)} s`);
  const status = JSON.parse(await sh('cloud-init status --format json')) as { status: string; errors: unknown[]; recoverable_errors: Record<string, unknown[]>; datasource: string };
  assert.equal(status.status, 'done');
  assert.deepEqual(status.errors, []);
  assert.deepEqual(status.recoverable_errors, {}, `cloud-init warnings: ${JSON.stringify(status.recoverable_errors)}`);
  assert.equal(status.datasource, 'nocloud');
  assert.equal(await sh("sudo grep -cE ' (WARNING|ERROR|CRITICAL)' /var/log/cloud-init.log || true"), '0', await sh("sudo grep -E ' (WARNING|ERROR)' /var/log/cloud-init.log || true"));

  // Debian 13's cloud kernel.
  assert.match(await sh('uname -r'), /^6\.12\.\S+\+deb13-cloud-amd64$/);
  assert.match(await sh('. /etc/os-release && echo "$ID $VERSION_ID"'), /^debian 13$/);

  // Booted through its own GRUB: GRUB passes BOOT_IMAGE (QEMU's -kernel does not), and its
  // menu entry (guest/base/debian/grub.cfg.in) is on the serial console.
  const cmdline = await sh('cat /proc/cmdline');
  assert.match(cmdline, /^BOOT_IMAGE=\/vmlinuz /);
  assert.match(cmdline, /console=ttyS0,115200/);
  assert.match(readFileSync(serialLog, 'utf8'), /Booting `Debian GNU\/Linux \(vexfs-image base\)'/);
  assert.match(readFileSync(serialLog, 'utf8'), /Linux version 6\.12/, 'kernel messages on the serial console');

  // machine-id: absent in the image, generated on this boot and committed to disk.
  const machineId = await sh('cat /etc/machine-id');
  assert.match(machineId, /^[0-9a-f]{32}$/);
  // systemd logs this to the kernel ring buffer (and so the serial console) before journald runs.
  assert.match(await sh('sudo dmesg | grep -m1 -i "machine id" || true'), /Initializing machine ID from random generator/);
  const [mtime, bootedAt] = (await sh('stat -c %Y /etc/machine-id; date -d "$(uptime -s)" +%s')).split('\n').map(Number);
  assert.ok(mtime! >= bootedAt! - 5, `machine-id written at ${mtime}, before this boot at ${bootedAt}`);

  // SSH host keys made on this boot, root grown to the overlay's 10 GiB, DHCP networking with DNS.
  const [keyTime] = (await sh('sudo stat -c %Y /etc/ssh/ssh_host_ed25519_key')).split('\n').map(Number);
  assert.ok(keyTime! >= bootedAt! - 5, 'SSH host key older than this boot');
  const rootBytes = Number(await sh("df -B1 --output=size / | tail -1"));
  assert.ok(rootBytes > 9 * 2 ** 30, `root file system is ${rootBytes} bytes, not grown`);
  assert.match(await sh('ip -4 route show default'), /^default via 10\.0\.2\.2 .*proto dhcp/);
  assert.match(await sh('getent hosts deb.debian.org || echo none'), /deb\.debian\.org/);
  assert.match(await sh('cat /etc/apt/sources.list.d/debian.sources'), /trixie-security/);
  assert.equal(await sh('systemctl is-system-running --wait || true'), 'running', await sh('systemctl --failed --no-legend || true'));

  assert.ok(await vm.shutdown(120_000), 'the guest powered off on ACPI shutdown');
});
