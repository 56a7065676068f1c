import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { judgeKvm, PROBE_EXIT_CODE, PROBE_MARKER, probeAccelerators, probeArgs, probeBootSector, type AccelResult } from '../../../src/tools/accel.js';
import { liveChildren } from '../../../src/tools/exec.js';
import { AbortedError } from '../../../src/errors.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

describe('probeBootSector', () => {
  const s = probeBootSector();

  test('is 512 bytes ending with the 55 AA boot signature', () => {
    assert.equal(s.length, 512);
    assert.equal(s[510], 0x55);
    assert.equal(s[511], 0xaa);
  });

  test('the message the code points at (mov si, imm16) is the marker, NUL-terminated', () => {
    assert.equal(s[6], 0xbe, 'mov si, imm16 at offset 6');
    const target = s.readUInt16LE(7) - 0x7c00;
    assert.equal(target, s.indexOf(PROBE_MARKER, 0, 'latin1'));
    const end = s.indexOf(0, target);
    assert.equal(s.toString('latin1', target, end), `${PROBE_MARKER}\r\n`);
  });

  test('jumps land on the intended instructions', () => {
    // jz done (74 03) at 15: lands on `mov al, 0x10` (b0 10).
    assert.deepEqual([s[15], s[16]], [0x74, 0x03]);
    assert.equal(s[17 + 3], 0xb0);
    // jmp next (eb f8) at 18: lands on lodsb (ac).
    assert.deepEqual([s[18], s[19]], [0xeb, 0xf8]);
    assert.equal(s[20 - 8], 0xac);
    // out 0xf4 writes 0x10, which isa-debug-exit turns into (0x10 << 1) | 1.
    assert.deepEqual([s[20], s[21], s[22], s[23]], [0xb0, 0x10, 0xe6, 0xf4]);
    assert.equal(PROBE_EXIT_CODE, (0x10 << 1) | 1);
  });
});

test('probeArgs: the accelerator, the floppy read-only, serial on stdio, isa-debug-exit at 0xf4', () => {
  const a = probeArgs('kvm', '/t/probe.img');
  assert.equal(a[a.indexOf('-machine') + 1], 'pc,accel=kvm');
  assert.equal(a[a.indexOf('-drive') + 1], 'file=/t/probe.img,format=raw,if=floppy,readonly=on');
  assert.equal(a[a.indexOf('-serial') + 1], 'stdio');
  assert.equal(a[a.indexOf('-device') + 1], 'isa-debug-exit,iobase=0xf4,iosize=0x04');
  assert.ok(a.includes('-no-reboot'));
});

describe('judgeKvm', () => {
  const tcg: AccelResult = { accel: 'tcg', usable: true, ms: 200, reason: 'ok' };
  test('fast KVM stays usable', () => {
    const kvm: AccelResult = { accel: 'kvm', usable: true, ms: 150, reason: 'ok' };
    assert.equal(judgeKvm(kvm, tcg), kvm);
  });
  test('KVM much slower than TCG is unusable, with the numbers in the reason', () => {
    const r = judgeKvm({ accel: 'kvm', usable: true, ms: 4000, reason: 'ok' }, tcg);
    assert.equal(r.usable, false);
    assert.match(r.reason, /4000 ms against 200 ms under TCG/);
    assert.match(r.reason, /nested/);
  });
  test('at the threshold (2 x TCG + 1.5 s) it is still usable', () => {
    assert.equal(judgeKvm({ accel: 'kvm', usable: true, ms: 1900, reason: 'ok' }, tcg).usable, true);
    assert.equal(judgeKvm({ accel: 'kvm', usable: true, ms: 1901, reason: 'ok' }, tcg).usable, false);
  });
  test('an unusable KVM result passes through; a failed TCG gives nothing to compare with', () => {
    const dead: AccelResult = { accel: 'kvm', usable: false, reason: 'hangs' };
    assert.equal(judgeKvm(dead, tcg), dead);
    const slow: AccelResult = { accel: 'kvm', usable: true, ms: 9000, reason: 'ok' };
    assert.equal(judgeKvm(slow, { accel: 'tcg', usable: false, reason: 'broken' }).usable, true);
  });
});

/**
 * A fake qemu-system-x86_64: checks it was handed a real boot sector, then behaves per
 * accelerator as told by $1 (tcg) and $2 (kvm): ok | hang | fail.
 */
function fakeQemu(dir: string, tcg: 'ok' | 'hang' | 'fail', kvm: 'ok' | 'hang' | 'fail'): string {
  return fakeBin(
    dir,
    'qemu-system-x86_64',
    `
case "$*" in *accel=kvm*) mode=${kvm} ;; *) mode=${tcg} ;; esac
img=$(printf '%s\\n' "$@" | sed -n 's/^file=\\([^,]*\\),.*/\\1/p')
[ "$(wc -c < "$img")" -eq 512 ] || { echo "bad boot sector" >&2; exit 1; }
case $mode in
  ok) printf '${PROBE_MARKER}\\r\\n'; exit ${PROBE_EXIT_CODE} ;;
  hang) exec sleep 30 ;;
  fail) echo "qemu-system-x86_64: failed to initialize kvm: Permission denied" >&2; exit 1 ;;
esac`,
  );
}

describe('probeAccelerators with a fake QEMU', { timeout: 30_000 }, () => {
  const dir = tempDir();
  const kvmDevice = join(dir, 'kvm');
  writeFileSync(kvmDevice, '');

  test('KVM hangs: unusable with the reason, TCG chosen, and the hung child is gone', async () => {
    const qemu = fakeQemu(tempDir(), 'ok', 'hang');
    const t0 = Date.now();
    const r = await probeAccelerators({ qemu, kvmDevice, timeoutMs: 500 });
    assert.ok(Date.now() - t0 < 5000);
    assert.equal(r.tcg.usable, true);
    assert.match(r.tcg.reason, /finished in \d+ ms/);
    assert.equal(r.kvm.usable, false);
    assert.match(r.kvm.reason, /did not finish within 0\.5 s \(guest hangs\)/);
    assert.equal(r.chosen, 'tcg');
    assert.equal(liveChildren(), 0);
  });

  test('KVM works: chosen', async () => {
    const r = await probeAccelerators({ qemu: fakeQemu(tempDir(), 'ok', 'ok'), kvmDevice, timeoutMs: 5000 });
    assert.equal(r.kvm.usable, true);
    assert.equal(typeof r.kvm.ms, 'number');
    assert.equal(r.chosen, 'kvm');
  });

  test('KVM fails: the last stderr line is the reason', async () => {
    const r = await probeAccelerators({ qemu: fakeQemu(tempDir(), 'ok', 'fail'), kvmDevice, timeoutMs: 5000 });
    assert.equal(r.kvm.usable, false);
    assert.match(r.kvm.reason, /exit 1: qemu-system-x86_64: failed to initialize kvm: Permission denied/);
    assert.equal(r.chosen, 'tcg');
  });

  test('no /dev/kvm: KVM not even tried', async () => {
    const r = await probeAccelerators({ qemu: fakeQemu(tempDir(), 'ok', 'ok'), kvmDevice: join(dir, 'absent'), timeoutMs: 5000 });
    assert.equal(r.kvm.usable, false);
    assert.match(r.kvm.reason, /absent is missing or not accessible/);
    assert.equal(r.chosen, 'tcg');
  });

  test('nothing works: chosen is undefined', async () => {
    const r = await probeAccelerators({ qemu: fakeQemu(tempDir(), 'fail', 'fail'), kvmDevice, timeoutMs: 5000 });
    assert.equal(r.tcg.usable, false);
    assert.equal(r.chosen, undefined);
  });

  test('missing QEMU binary: unusable with a command-not-found reason', async () => {
    const r = await probeAccelerators({ qemu: join(dir, 'no-qemu-here'), kvmDevice, timeoutMs: 5000 });
    assert.equal(r.tcg.usable, false);
    assert.match(r.tcg.reason, /command not found/);
  });

  test('abort during the probe: AbortedError, not an "unusable" verdict', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    await assert.rejects(probeAccelerators({ qemu: fakeQemu(tempDir(), 'hang', 'hang'), kvmDevice, timeoutMs: 10_000, signal: ac.signal }), AbortedError);
    assert.equal(liveChildren(), 0);
  });
});
