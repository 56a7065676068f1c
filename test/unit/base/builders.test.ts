// Pure command-line and layout builders for the Debian base.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { diskLayout, DISK_LAYOUT, EFI_REMOVABLE_PATH, installBiosBootloader, makeBootableRawDisk, mke2fsArgs, patchBiosBootImages, PART_TYPES, sfdiskScript } from '../../../src/base/disk.js';
import { mkfsFatArgs, mtoolsImage } from '../../../src/tools/fat.js';
import { which } from '../../../src/tools/host-tools.js';
import { debianRecipe, debianSources, hashTree, recipeKey } from '../../../src/base/debian.js';
import { DEBIAN_PRESETS } from '../../../src/base/presets.js';
import { mountsUnder } from '../../../src/base/safe-remove.js';
import { mmdebstrapArgs } from '../../../src/tools/mmdebstrap.js';
import { convertArgs } from '../../../src/tools/qemu-img.js';
import { tempDir } from '../../helpers/fs.js';

const trixie = DEBIAN_PRESETS['debian-13']!;

describe('mmdebstrapArgs', () => {
  test('root mode, variant, sorted packages, hooks, suite, target, sources in order', () => {
    const a = mmdebstrapArgs({
      suite: 'trixie',
      variant: 'minbase',
      packages: ['sudo', 'cloud-init'],
      sources: ['deb http://m/debian trixie main', 'deb http://m/sec trixie-security main'],
      target: '/w/root',
      dpkgOpts: ['/g/dpkg.cfg'],
      customizeHooks: ['/g/customize.sh'],
    });
    assert.deepEqual(a, [
      '--mode=root', '--variant=minbase', '--architectures=amd64', '--skip=check/qemu',
      '--include=cloud-init,sudo', '--dpkgopt=/g/dpkg.cfg', '--customize-hook=/g/customize.sh',
      'trixie', '/w/root', 'deb http://m/debian trixie main', 'deb http://m/sec trixie-security main',
    ]);
  });
});

describe('disk layout', () => {
  test('GPT: BIOS boot partition at 1 MiB, 64 MiB ESP, root last in 4 KiB blocks, clear of the backup GPT', () => {
    const l = diskLayout(3 * 1024 ** 3);
    assert.equal(l.partitionStartBytes, 66 * 1024 * 1024);
    assert.equal(l.partitionBytes % (1024 * 1024), 0);
    assert.ok(l.partitionStartBytes + l.partitionBytes <= 3 * 1024 ** 3 - 33 * 512, 'the root ends before the backup GPT');
    assert.ok(3 * 1024 ** 3 - (l.partitionStartBytes + l.partitionBytes) <= 2 * 1024 * 1024, 'and wastes at most alignment');
    assert.equal(l.fsBlocks * 4096, l.partitionBytes);
    assert.throws(() => diskLayout(1000));
    assert.throws(() => diskLayout(64 * 1024 * 1024), /no room/);
    assert.equal(
      sfdiskScript(l),
      'label: gpt\nunit: sectors\n' +
        `start=2048, size=2048, type=${PART_TYPES.biosBoot}, name="bios-boot"\n` +
        `start=4096, size=131072, type=${PART_TYPES.esp}, name="efi"\n` +
        `start=135168, size=${l.partitionBytes / 512}, type=${PART_TYPES.linux}, name="root"\n`,
    );
  });

  test('mke2fs writes the tree at the root partition\'s offset with the given UUID', () => {
    const l = diskLayout(2 * 1024 ** 3);
    const a = mke2fsArgs({ image: '/w/disk.raw', rootDir: '/w/root', uuid: 'U', label: 'root', layout: l });
    assert.deepEqual(a.slice(-4), ['-E', `offset=${66 * 1024 * 1024}`, '/w/disk.raw', String(l.fsBlocks)]);
    assert.ok(a.includes('-d') && a[a.indexOf('-d') + 1] === '/w/root');
    assert.ok(a.includes('-U') && a[a.indexOf('-U') + 1] === 'U');
    assert.ok(a.includes('-F'), 'never prompts on a file that already has a partition table');
  });

  test('the ESP: FAT32, 512-byte clusters, at its offset; mtools addresses it by byte offset', () => {
    const f = { image: '/w/d.raw', offsetSectors: 4096, sizeKiB: 65536, label: 'EFI', volumeId: '1234abcd' };
    assert.deepEqual(mkfsFatArgs(f), ['-F', '32', '-s', '1', '-n', 'EFI', '-i', '1234abcd', '--offset=4096', '/w/d.raw', '65536']);
    assert.equal(mtoolsImage(f), '/w/d.raw@@2097152');
  });

  /** A 512-byte boot.img and a core.img with GRUB's defaults (kernel sector 1, block list from sector 2). */
  const grubImages = (coreBytes: number): { boot: Buffer; core: Buffer } => {
    const boot = Buffer.alloc(512, 0xbb);
    boot.writeBigUInt64LE(1n, 0x5c);
    const core = Buffer.alloc(coreBytes, 0xcc);
    core.writeBigUInt64LE(2n, 500);
    return { boot, core };
  };

  test('boot.img and diskboot are patched for core.img in the BIOS boot partition; other GRUB defaults are refused', () => {
    const { boot, core } = grubImages(3000);
    const p = patchBiosBootImages(boot, core, 2048);
    assert.equal(p.boot.readBigUInt64LE(0x5c), 2048n);
    assert.equal(p.core.readBigUInt64LE(500), 2049n);
    assert.equal(boot.readBigUInt64LE(0x5c), 1n, 'the inputs are not changed');
    assert.ok(p.core.subarray(512).every((b) => b === 0xcc));
    const odd = Buffer.from(boot);
    odd.writeBigUInt64LE(7n, 0x5c);
    assert.throws(() => patchBiosBootImages(odd, core, 2048), /expected defaults/);
    assert.throws(() => patchBiosBootImages(Buffer.alloc(100), core, 2048), /boot\.img/);
  });

  test('the boot loader goes into the first 440 bytes and the BIOS boot partition, keeping the partition table', async () => {
    const dir = tempDir();
    const img = join(dir, 'disk');
    const disk = Buffer.alloc(2 * 1024 * 1024 + 512, 0);
    disk.fill(0x11, 446, 510); // partition table
    disk[510] = 0x55;
    disk[511] = 0xaa;
    writeFileSync(img, disk);
    const { boot, core } = grubImages(3000);
    await installBiosBootloader(img, boot, core);
    const out = readFileSync(img);
    assert.ok(out.subarray(0, 0x5c).every((b) => b === 0xbb));
    assert.equal(out.readBigUInt64LE(0x5c), 2048n);
    assert.ok(out.subarray(446, 510).every((b) => b === 0x11), 'partition table kept');
    assert.equal(out[510], 0x55);
    assert.ok(out.subarray(512, 2048 * 512).every((b) => b === 0), 'nothing in the gap after the MBR');
    assert.equal(out.readBigUInt64LE(2048 * 512 + 500), 2049n);
    assert.ok(out.subarray(2048 * 512 + 512, 2048 * 512 + 3000).every((b) => b === 0xcc));
    await assert.rejects(installBiosBootloader(img, boot, Buffer.alloc(2048 * 512 + 1)), /BIOS boot partition/);
  });

  const haveTools = ['sfdisk', 'mke2fs', 'mkfs.fat', 'mmd', 'mcopy'].every((t) => which(t));
  test('a real disk: GPT verifies, the root and the ESP (with BOOTX64.EFI) are where the table says', { skip: haveTools ? false : 'needs sfdisk, mke2fs, dosfstools and mtools' }, async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'root', 'etc'), { recursive: true });
    writeFileSync(join(dir, 'root', 'etc', 'hostname'), 'x\n');
    const { boot, core } = grubImages(4096);
    writeFileSync(join(dir, 'boot.img'), boot);
    writeFileSync(join(dir, 'core.img'), core);
    writeFileSync(join(dir, 'core.efi'), 'MZ efi');
    const image = join(dir, 'disk.raw');
    const uuid = '0b4a4c1e-5f55-4c36-9a43-5b2a4a3ae0a1';
    await makeBootableRawDisk({ image, rootDir: join(dir, 'root'), uuid, diskBytes: 256 * 1024 * 1024, bootImgPath: join(dir, 'boot.img'), coreImgPath: join(dir, 'core.img'), efiImgPath: join(dir, 'core.efi'), espVolumeId: 'abcd1234' });
    const dump = spawnSync('sfdisk', ['--json', image], { encoding: 'utf8' });
    const table = (JSON.parse(dump.stdout) as { partitiontable: { label: string; partitions: Array<{ start: number; size: number; type: string }> } }).partitiontable;
    assert.equal(table.label, 'gpt');
    assert.deepEqual(table.partitions.map((p) => [p.start, p.type]), [[2048, PART_TYPES.biosBoot], [4096, PART_TYPES.esp], [135168, PART_TYPES.linux]]);
    const l = diskLayout(256 * 1024 * 1024);
    assert.equal(table.partitions[2]!.size * 512, l.partitionBytes);
    const efi = spawnSync('mtype', ['-i', mtoolsImage({ image, offsetSectors: 4096 }), `::/${EFI_REMOVABLE_PATH}`], { encoding: 'utf8', env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
    assert.equal(efi.stdout, 'MZ efi');
    const fs = spawnSync('dumpe2fs', ['-h', `${image}?offset=${l.partitionStartBytes}`], { encoding: 'utf8' });
    assert.match(fs.stdout, new RegExp(`Filesystem UUID:\\s+${uuid}`));
    const out = readFileSync(image);
    assert.equal(out.readBigUInt64LE(0x5c), 2048n, 'boot.img points at core.img');
    assert.equal(out.readUInt16LE(510), 0xaa55);
  });
});

describe('Debian recipe', () => {
  test('has the cloud kernel, cloud-init, sshd, sudo and growpart; key is stable and content-based', async () => {
    const r = await debianRecipe(trixie);
    for (const p of ['linux-image-cloud-amd64', 'cloud-init', 'openssh-server', 'sudo', 'cloud-guest-utils', 'systemd-resolved', 'grub-pc-bin', 'grub-efi-amd64-bin']) assert.ok(r.packages.includes(p), p);
    assert.equal(r.diskLayout, DISK_LAYOUT, 'the layout is part of the cache key');
    assert.deepEqual(r.packages, [...r.packages].sort());
    assert.equal(recipeKey(r), recipeKey(await debianRecipe(trixie)));
    assert.match(recipeKey(r), /^debian-13-[0-9a-f]{16}$/);
    assert.notEqual(recipeKey(r), recipeKey(await debianRecipe(trixie, { extraPackages: ['vim'] })));
    assert.notEqual(recipeKey(r), recipeKey(await debianRecipe(trixie, { mirror: 'http://mirror.local/debian' })));
    assert.notEqual(recipeKey(r), recipeKey(await debianRecipe(DEBIAN_PRESETS['debian-12']!)));
    assert.deepEqual(debianSources(r), ['deb http://deb.debian.org/debian trixie trixie-updates main', 'deb http://deb.debian.org/debian-security trixie-security main']);
  });

  test('hashTree changes when a file changes', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a', 'f'), 'one');
    const h1 = await hashTree(dir);
    writeFileSync(join(dir, 'a', 'f'), 'two');
    assert.notEqual(await hashTree(dir), h1);
  });
});

describe('helpers', () => {
  test('convertArgs: raw input, zstd compression', () => {
    assert.deepEqual(convertArgs('a.raw', 'b.qcow2', { sourceFormat: 'raw', compress: true, compressionType: 'zstd' }), [
      'convert', '-f', 'raw', '-O', 'qcow2', '-o', 'compat=1.1,lazy_refcounts=off,compression_type=zstd', '-c', 'a.raw', 'b.qcow2',
    ]);
    assert.deepEqual(convertArgs('a', 'b'), ['convert', '-O', 'qcow2', '-o', 'compat=1.1,lazy_refcounts=off', 'a', 'b']);
  });

  test('mountsUnder finds mounts inside a chroot, deepest first, decoding escapes', () => {
    const mounts = ['/dev/vda / ext4 rw 0 0', 'proc /w/root/proc proc rw 0 0', 'udev /w/root/dev/pts devpts rw 0 0', 'tmp /w/root\\040x/dev tmpfs rw 0 0', 'x /w/rootfs/proc proc rw 0 0'].join('\n');
    assert.deepEqual(mountsUnder(mounts, '/w/root'), ['/w/root/dev/pts', '/w/root/proc']);
    assert.deepEqual(mountsUnder(mounts, '/w/root x'), ['/w/root x/dev']);
  });
});
