// Pure command-line and layout builders for the Debian base.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { diskLayout, installBiosBootloader, mke2fsArgs, sfdiskScript, MBR_BOOT_CODE_BYTES } from '../../../src/base/disk.js';
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
  test('partition at 1 MiB, file system fills the rest in 4 KiB blocks', () => {
    const l = diskLayout(3 * 1024 ** 3);
    assert.equal(l.partitionStartBytes, 1024 * 1024);
    assert.equal(l.fsBlocks * 4096, 3 * 1024 ** 3 - 1024 * 1024);
    assert.throws(() => diskLayout(1000));
    assert.equal(sfdiskScript(), 'label: dos\nstart=2048, type=83, bootable\n');
  });

  test('mke2fs writes the tree at the partition offset with the given UUID', () => {
    const a = mke2fsArgs({ image: '/w/disk.raw', rootDir: '/w/root', uuid: 'U', label: 'root', layout: diskLayout(2 * 1024 ** 3) });
    assert.deepEqual(a.slice(-4), ['-E', 'offset=1048576', '/w/disk.raw', String((2 * 1024 ** 3 - 1024 * 1024) / 4096)]);
    assert.ok(a.includes('-d') && a[a.indexOf('-d') + 1] === '/w/root');
    assert.ok(a.includes('-U') && a[a.indexOf('-U') + 1] === 'U');
    assert.ok(a.includes('-F'), 'never prompts on a file that already has a partition table');
  });

  test('the boot loader goes into the first 440 bytes and from sector 1, keeping the partition table', async () => {
    const dir = tempDir();
    const img = join(dir, 'disk');
    const disk = Buffer.alloc(1024 * 1024 + 512, 0);
    disk.fill(0x11, 446, 510); // partition table
    disk[510] = 0x55;
    disk[511] = 0xaa;
    writeFileSync(img, disk);
    const boot = Buffer.alloc(512, 0xbb);
    const core = Buffer.alloc(3000, 0xcc);
    await installBiosBootloader(img, boot, core);
    const out = readFileSync(img);
    assert.ok(out.subarray(0, MBR_BOOT_CODE_BYTES).every((b) => b === 0xbb));
    assert.ok(out.subarray(446, 510).every((b) => b === 0x11), 'partition table kept');
    assert.equal(out[510], 0x55);
    assert.ok(out.subarray(512, 512 + 3000).every((b) => b === 0xcc));
    assert.equal(out[512 + 3000], 0);
    await assert.rejects(installBiosBootloader(img, boot, Buffer.alloc(2047 * 512 + 1)), /before the first partition/);
    await assert.rejects(installBiosBootloader(img, Buffer.alloc(100), core), /boot\.img/);
  });
});

describe('Debian recipe', () => {
  test('has the cloud kernel, cloud-init, sshd, sudo and growpart; key is stable and content-based', async () => {
    const r = await debianRecipe(trixie);
    for (const p of ['linux-image-cloud-amd64', 'cloud-init', 'openssh-server', 'sudo', 'cloud-guest-utils', 'systemd-resolved']) assert.ok(r.packages.includes(p), p);
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
