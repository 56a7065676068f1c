// The Secure Boot ESP layout: shim at the removable path, the signed GRUB beside it under the
// name shim loads, its grub.cfg pointing at the root's; the plain layout when the root has none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { secureBootEspFiles, SIGNED_BOOT_FILES } from '../../../src/base/secure-boot-esp.js';
import { tempDir } from '../../helpers/fs.js';

const UUID = '0f0e0d0c-0b0a-4908-8706-050403020100';

test('shim, signed GRUB, MokManager and a grub.cfg that finds the root by UUID', async () => {
  const dir = tempDir('vexfs-esp-');
  const root = join(dir, 'root');
  for (const rel of Object.values(SIGNED_BOOT_FILES)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), rel);
  }
  const files = await secureBootEspFiles(root, UUID, dir);
  assert.ok(files);
  const at = new Map(files.map(([src, inside]) => [inside, src]));
  assert.deepEqual([...at.keys()].sort(), ['EFI/BOOT/BOOTX64.EFI', 'EFI/BOOT/grub.cfg', 'EFI/BOOT/grubx64.efi', 'EFI/BOOT/mmx64.efi']);
  assert.equal(readFileSync(at.get('EFI/BOOT/BOOTX64.EFI')!, 'utf8'), SIGNED_BOOT_FILES.shim);
  assert.equal(readFileSync(at.get('EFI/BOOT/grubx64.efi')!, 'utf8'), SIGNED_BOOT_FILES.grub);
  const cfg = readFileSync(at.get('EFI/BOOT/grub.cfg')!, 'utf8');
  assert.match(cfg, new RegExp(`^search --no-floppy --fs-uuid --set=root ${UUID}$`, 'm'));
  assert.match(cfg, /^configfile \$prefix\/grub\.cfg$/m);
  assert.ok(!files.some(([, inside]) => /fbx64/i.test(inside)), 'no fallback loader (it would reset the VM)');
});

test('no signed shim in the root: undefined (the plain GRUB image is used)', async () => {
  const dir = tempDir('vexfs-esp-');
  assert.equal(await secureBootEspFiles(join(dir, 'root'), UUID, dir), undefined);
});
