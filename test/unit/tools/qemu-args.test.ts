import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { detectBootFailure, qemuArgs, TCG_CPU, type VmSpec } from '../../../src/tools/qemu.js';
import { profileFor } from '../../../src/vm/profile.js';

const base: VmSpec = {
  name: 'vexfs-build',
  profile: profileFor('tcg', 2048, 2, {}),
  drives: [{ file: '/b/overlay.qcow2', format: 'qcow2' }],
  serialLog: '/b/serial.log',
  qmpSocket: '/b/qmp.sock',
};

/** The value following each occurrence of flag. */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe('qemuArgs', () => {
  test('tcg: multi-threaded TCG, cpu max, no KVM; memory and cpus as given', () => {
    const a = qemuArgs(base);
    assert.deepEqual(valuesOf(a, '-machine'), ['q35,sata=off,smbus=off,vmport=off']);
    assert.deepEqual(valuesOf(a, '-accel'), ['tcg,thread=multi']);
    assert.deepEqual(valuesOf(a, '-cpu'), [TCG_CPU]);
    assert.match(TCG_CPU, /^qemu64,.*\+sse4\.2.*,-svm/);
    assert.deepEqual(valuesOf(a, '-m'), ['2048']);
    assert.deepEqual(valuesOf(a, '-smp'), ['2']);
    assert.ok(!a.join(' ').includes('kvm'));
    assert.ok(a.includes('-nodefaults'));
    assert.deepEqual(valuesOf(a, '-display'), ['none']);
  });

  test('kvm: accel=kvm and cpu host', () => {
    const a = qemuArgs({ ...base, profile: profileFor('kvm', 2048, 2) });
    assert.deepEqual(valuesOf(a, '-machine'), ['q35,sata=off,smbus=off,vmport=off,accel=kvm']);
    assert.deepEqual(valuesOf(a, '-cpu'), ['host']);
    assert.deepEqual(valuesOf(a, '-accel'), []);
  });

  test('serial console to the log file, QMP on the unix socket without waiting', () => {
    const a = qemuArgs(base);
    assert.deepEqual(valuesOf(a, '-chardev'), ['file,id=serial0,path=/b/serial.log']);
    assert.deepEqual(valuesOf(a, '-serial'), ['chardev:serial0']);
    assert.deepEqual(valuesOf(a, '-qmp'), ['unix:/b/qmp.sock,server=on,wait=off']);
  });

  test('hostfwd binds 127.0.0.1 only', () => {
    const a = qemuArgs({ ...base, sshPort: 40022 });
    const netdev = valuesOf(a, '-netdev');
    assert.deepEqual(netdev, ['user,id=net0,hostfwd=tcp:127.0.0.1:40022-:22']);
    assert.ok(!/hostfwd=tcp::|0\.0\.0\.0/.test(a.join(' ')), 'never an unbound or wildcard forward');
    assert.ok(valuesOf(a, '-device').includes('virtio-net-pci,netdev=net0'));
  });

  test('isolated: slirp restrict=on, the SSH forward kept', () => {
    assert.deepEqual(valuesOf(qemuArgs({ ...base, sshPort: 40022, isolated: true }), '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22']);
    assert.deepEqual(valuesOf(qemuArgs({ ...base, isolated: true }), '-netdev'), ['user,id=net0,restrict=on']);
  });

  test('without sshPort: user networking, no forwards', () => {
    const a = qemuArgs(base);
    assert.deepEqual(valuesOf(a, '-netdev'), ['user,id=net0']);
  });

  test('drives: one virtio-blk device each, first is the boot disk; discard=unmap only when asked; readonly when asked', () => {
    const a = qemuArgs({
      ...base,
      drives: [
        { file: '/b/disk.qcow2', format: 'qcow2', discard: true },
        { file: '/b/src.img', format: 'raw', readOnly: true, serial: 'vexfs-source' },
      ],
    });
    const drives = valuesOf(a, '-drive');
    assert.deepEqual(drives, [
      'file=/b/disk.qcow2,format=qcow2,if=none,id=drive0,cache=unsafe,discard=unmap,detect-zeroes=unmap',
      'file=/b/src.img,format=raw,if=none,id=drive1,cache=unsafe,readonly=on',
    ]);
    const blk = valuesOf(a, '-device').filter((d) => d.startsWith('virtio-blk-pci'));
    assert.deepEqual(blk, ['virtio-blk-pci,drive=drive0,bootindex=0', 'virtio-blk-pci,drive=drive1,serial=vexfs-source']);
    assert.ok(!qemuArgs(base).join(' ').includes('discard'), 'no discard by default');
    assert.ok(!qemuArgs(base).join(' ').includes('readonly'), 'writable by default');
  });

  test('the cloud-init seed is attached read-only, after the disks, never as the boot disk', () => {
    const a = qemuArgs({ ...base, seedIso: '/b/seed.iso' });
    const drives = valuesOf(a, '-drive');
    assert.equal(drives.length, 2);
    assert.equal(drives[1], 'file=/b/seed.iso,format=raw,if=none,id=drive1,cache=unsafe,readonly=on');
    assert.ok(valuesOf(a, '-device').includes('virtio-blk-pci,drive=drive1'));
  });

  test('virtfs shares: read-only when asked, mount tag as id', () => {
    const a = qemuArgs({
      ...base,
      virtfs: [
        { path: '/src', mountTag: 'vexfs_src', readOnly: true },
        { path: '/out', mountTag: 'out', readOnly: false },
      ],
    });
    assert.deepEqual(valuesOf(a, '-virtfs'), [
      'local,path=/src,mount_tag=vexfs_src,security_model=none,id=vexfs_src,readonly=on',
      'local,path=/out,mount_tag=out,security_model=none,id=out',
    ]);
  });

  test('direct kernel boot, pidfile and rng', () => {
    const a = qemuArgs({ ...base, kernel: '/k/vmlinuz', initrd: '/k/initrd', append: 'root=/dev/vda1 console=ttyS0', pidFile: '/b/qemu.pid' });
    assert.deepEqual(valuesOf(a, '-kernel'), ['/k/vmlinuz']);
    assert.deepEqual(valuesOf(a, '-initrd'), ['/k/initrd']);
    assert.deepEqual(valuesOf(a, '-append'), ['root=/dev/vda1 console=ttyS0']);
    assert.deepEqual(valuesOf(a, '-pidfile'), ['/b/qemu.pid']);
    assert.ok(valuesOf(a, '-device').includes('virtio-rng-pci'));
    assert.deepEqual(valuesOf(qemuArgs(base), '-kernel'), []);
  });

  test('with -kernel the disk takes no bootindex (QEMU gives 0 to its linuxboot ROM and refuses a second)', () => {
    const disk = (a: string[]): string => valuesOf(a, '-device').find((d) => d.includes('drive=drive0'))!;
    assert.match(disk(qemuArgs(base)), /bootindex=0/);
    assert.doesNotMatch(disk(qemuArgs({ ...base, kernel: '/k/vmlinuz', initrd: '/k/initrd' })), /bootindex/);
  });
});

describe('detectBootFailure', () => {
  const healthy = [
    '[    0.000000] Linux version 6.1.0-28-cloud-amd64',
    '[    2.345678] EXT4-fs (vda1): mounted filesystem with ordered data mode.',
    '[  OK  ] Reached target multi-user.target - Multi-User System.',
    'vexfs login:',
  ].join('\r\n');

  test('a healthy boot log: no failure', () => {
    assert.equal(detectBootFailure(healthy), undefined);
    assert.equal(detectBootFailure(''), undefined);
  });

  const cases: Array<[string, string, string]> = [
    ['kernel panic', '[    3.1] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)', 'kernel panic'],
    ['emergency mode', 'You are in emergency mode. After logging in, type "journalctl -xb"', 'emergency shell'],
    ['maintenance prompt', 'Give root password for maintenance\r\n(or press Control-D to continue):', 'emergency shell'],
    ['initramfs missing root', 'ALERT!  /dev/vda1 does not exist.  Dropping to a shell!', 'root filesystem not mounted'],
    ['gave up waiting', 'Gave up waiting for root file system device.  Common problems:', 'root filesystem not mounted'],
    ['no bootable device', 'Booting from Hard Disk...\r\nBoot failed: not a bootable disk', 'no bootable device'],
  ];
  for (const [name, line, kind] of cases) {
    test(`detects ${name}`, () => {
      const f = detectBootFailure(`${healthy}\r\n${line}\r\nmore output`);
      assert.ok(f, 'expected a failure');
      assert.equal(f.kind, kind);
      assert.ok(line.includes(f.line.split('\r')[0]!.trim().slice(0, 20)), `line ${JSON.stringify(f.line)}`);
      assert.ok(!f.line.includes('\n'), 'a single line');
    });
  }
});
