// Production hardening must win over cloud-init: sshd keeps the FIRST value it reads, and
// cloud-init (ssh_pwauth: true) writes PasswordAuthentication yes into
// sshd_config.d/50-cloud-init.conf, included at the top of Debian's sshd_config. The real
// guest/hardening/harden-sshd.sh is run on a copy of Debian's stock sshd_config with such drop-ins
// in place; the effective values are then read the way sshd reads them (Include expanded in
// sorted order where it stands, first value of each keyword kept) and, where this host has
// sshd, by `sshd -T` itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GUEST_DIR } from '../../../src/paths.js';
import { run } from '../../../src/tools/exec.js';
import { tempDir } from '../../helpers/fs.js';

const HARDEN = join(GUEST_DIR, 'hardening', 'harden-sshd.sh');
const CONF = join(GUEST_DIR, 'hardening', 'sshd.conf');

/** Debian 13's stock /etc/ssh/sshd_config (comments trimmed), with the Include made relative to dir. */
const stock = (dir: string): string => `
# This is the sshd server system-wide configuration file.  See sshd_config(5).
Include ${dir}/sshd_config.d/*.conf

#PasswordAuthentication yes
#PermitEmptyPasswords no
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding yes
PrintMotd no
AcceptEnv LANG LC_* COLORTERM NO_COLOR
Subsystem	sftp	/usr/lib/openssh/sftp-server
`;

/** DIR/PREFIX*SUFFIX, the only glob form in these files (Node 20 has no fs.glob), sorted. */
function glob(pattern: string): string[] {
  const [pre, suf] = basename(pattern).split('*') as [string, string];
  const dir = dirname(pattern);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(pre) && n.endsWith(suf)).sort().map((n) => join(dir, n)) : [];
}

/** sshd's reading: Include lines expanded in place (glob, sorted), first value of a keyword wins. */
function effective(file: string, out = new Map<string, string>()): Map<string, string> {
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [key, ...rest] = line.split(/\s+/);
    const k = key!.toLowerCase();
    if (k === 'match') break; // everything after a Match line is conditional
    if (k === 'include') {
      for (const pattern of rest) for (const f of glob(pattern)) effective(f, out);
      continue;
    }
    if (!out.has(k)) out.set(k, rest.join(' '));
  }
  return out;
}

function setUp(): { dir: string; cfg: string; dropins: string } {
  const dir = tempDir('vexfs-sshd-');
  const dropins = join(dir, 'sshd_config.d');
  mkdirSync(dropins);
  const cfg = join(dir, 'sshd_config');
  writeFileSync(cfg, stock(dir));
  // What cloud-init 22.4+ writes for ssh_pwauth: true (cc_set_passwords -> ssh_util.update_ssh_config).
  writeFileSync(join(dropins, '50-cloud-init.conf'), 'PasswordAuthentication yes\n');
  // A later deployment seed's own drop-ins, one sorting before everything.
  writeFileSync(join(dropins, '00-aaa-seed.conf'), 'PasswordAuthentication yes\nPermitRootLogin yes\nX11Forwarding yes\n');
  writeFileSync(join(dropins, '99-seed.conf'), 'PermitEmptyPasswords yes\nMaxAuthTries 10\n');
  return { dir, cfg, dropins };
}

const WANT = { passwordauthentication: 'no', kbdinteractiveauthentication: 'no', permitrootlogin: 'no', permitemptypasswords: 'no', x11forwarding: 'no', maxauthtries: '3' };

describe('sshd hardening against cloud-init and later seeds', () => {
  test('without hardening, cloud-init\'s 50-cloud-init.conf turns password login on (the bug)', () => {
    const { cfg } = setUp();
    assert.equal(effective(cfg).get('passwordauthentication'), 'yes');
  });

  test('after harden-sshd.sh every hardening value is the one sshd keeps, whatever the drop-ins say', async () => {
    const { cfg, dropins } = setUp();
    await run('bash', [HARDEN, CONF, cfg]);
    const eff = effective(cfg);
    for (const [k, v] of Object.entries(WANT)) assert.equal(eff.get(k), v, k);
    // The block is above the Include, which stays exactly as cloud-init looks for it, so that
    // cloud-init keeps writing 50-cloud-init.conf instead of editing sshd_config in place.
    const lines = readFileSync(cfg, 'utf8').split('\n');
    const pw = lines.findIndex((l) => /^PasswordAuthentication no$/.test(l));
    const inc = lines.findIndex((l) => l.startsWith(`Include ${cfg}.d/*.conf`));
    assert.ok(pw >= 0 && inc > pw, `PasswordAuthentication no at line ${pw}, Include at ${inc}`);
    assert.ok(!lines.some((l) => /^\s*Match\b/i.test(l)), 'no Match block');
    // The drop-in copy sorts before cloud-init's; the old 90- name is gone.
    const names = readdirSync(dropins).sort();
    assert.ok(names.indexOf('00-vexfs-hardening.conf') < names.indexOf('50-cloud-init.conf'));
    assert.ok(!existsSync(join(dropins, '90-vexfs-hardening.conf')));
    const sshd = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => existsSync(p));
    if (sshd) {
      const key = join(dropins, '..', 'hostkey');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      const t = await run(sshd, ['-T', '-f', cfg, '-h', key]);
      for (const [k, v] of Object.entries(WANT)) assert.match(t.stdout, new RegExp(`^${k} ${v}$`, 'm'), `sshd -T: ${k}`);
    }
  });

  test('running it twice replaces its block instead of repeating it; the rest of sshd_config is kept', async () => {
    const { cfg, dir } = setUp();
    await run('bash', [HARDEN, CONF, cfg]);
    const once = readFileSync(cfg, 'utf8');
    await run('bash', [HARDEN, CONF, cfg]);
    assert.equal(readFileSync(cfg, 'utf8'), once);
    assert.equal((once.match(/^# BEGIN vexfs-image production hardening$/gm) ?? []).length, 1);
    assert.ok(once.endsWith(stock(dir)), 'the stock file follows the block unchanged');
  });

  test('apply-variant.sh hardens through harden-sshd.sh, no longer with a 90- drop-in', () => {
    const s = readFileSync(join(GUEST_DIR, 'build', 'apply-variant.sh'), 'utf8');
    assert.match(s, /bash "\$files\/harden-sshd\.sh" "\$files\/sshd\.conf" \/etc\/ssh\/sshd_config/);
    assert.ok(!s.includes('sshd_config.d/90-vexfs-hardening.conf'));
  });
});
