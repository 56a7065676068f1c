import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { generateKey, probeSsh, shellQuote, sleep, sshArgs, sshExec, sshScript, sshUpload, waitForSsh, type SshTarget } from '../../../src/tools/ssh.js';
import { run } from '../../../src/tools/exec.js';
import { AbortedError, CommandError, TimeoutError } from '../../../src/errors.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

const target: SshTarget = { host: '127.0.0.1', port: 40022, user: 'vexfs', key: { privateKeyPath: '/k/id_ed25519', publicKey: 'ssh-ed25519 AAAA' } };

function opt(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length - 1; i++) if (args[i] === '-o' && args[i + 1]!.startsWith(`${name}=`)) return args[i + 1]!.slice(name.length + 1);
  return undefined;
}

describe('sshArgs', () => {
  const a = sshArgs(target, 7);
  test('key, port and destination last', () => {
    assert.equal(a[a.indexOf('-i') + 1], '/k/id_ed25519');
    assert.equal(a[a.indexOf('-p') + 1], '40022');
    assert.equal(a.at(-1), 'vexfs@127.0.0.1');
  });
  test('non-interactive, key-only, nothing recorded in known_hosts', () => {
    assert.equal(opt(a, 'BatchMode'), 'yes');
    assert.equal(opt(a, 'PasswordAuthentication'), 'no');
    assert.equal(opt(a, 'IdentitiesOnly'), 'yes');
    assert.equal(opt(a, 'StrictHostKeyChecking'), 'no');
    assert.equal(opt(a, 'UserKnownHostsFile'), '/dev/null');
    assert.equal(opt(a, 'GlobalKnownHostsFile'), '/dev/null');
    assert.equal(opt(a, 'ConnectTimeout'), '7');
    assert.equal(opt(a, 'ServerAliveInterval'), '15');
  });
});

describe('shellQuote', () => {
  test('plain words stay as they are', () => {
    assert.equal(shellQuote('/usr/local/bin/vexctl'), '/usr/local/bin/vexctl');
    assert.equal(shellQuote('a=b:c@d%e+f-g'), 'a=b:c@d%e+f-g');
  });
  const nasty = ["it's", 'a b', '$(touch /tmp/pwned)', '`id`', 'a;b|c&d', '"dq"', '', 'new\nline', "'", '*'];
  for (const s of nasty) {
    test(`round-trips through sh: ${JSON.stringify(s)}`, async () => {
      const r = await run('sh', ['-c', `printf '%s' ${shellQuote(s)}`]);
      assert.equal(r.stdout, s);
    });
  }
});

/** A TCP server on 127.0.0.1 (a stand-in for QEMU's forwarded SSH port). */
async function serve(handler: (s: Socket) => void): Promise<{ port: number; close: () => void }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe('probeSsh', () => {
  test('ssh for an SSH identification line, even in pieces', async () => {
    const srv = await serve((s) => {
      s.write('SS');
      setTimeout(() => s.end('H-2.0-OpenSSH_10.0\r\n'), 20);
    });
    try {
      assert.equal(await probeSsh('127.0.0.1', srv.port), 'ssh');
    } finally {
      srv.close();
    }
  });
  test('tells a reset (guest up, port closed) from silence, nothing listening and other protocols', async () => {
    const closed = await serve((s) => s.destroy());
    const http = await serve((s) => s.end('HTTP/1.1 400 Bad Request\r\n'));
    const silent = await serve(() => {});
    const ssh = await serve((s) => s.end('SSH-2.0-x\r\n'));
    try {
      assert.equal(await probeSsh('127.0.0.1', closed.port), 'refused');
      assert.equal(await probeSsh('127.0.0.1', http.port), 'other');
      assert.equal(await probeSsh('127.0.0.1', silent.port, 100), 'silent');
      assert.equal(await probeSsh('127.0.0.1', ssh.port), 'ssh');
    } finally {
      closed.close();
      http.close();
      silent.close();
      ssh.close();
    }
    assert.equal(await probeSsh('127.0.0.1', closed.port), 'unreachable');
  });
});

describe('sleep', () => {
  test('resolves after the time', async () => {
    const t0 = Date.now();
    await sleep(50);
    assert.ok(Date.now() - t0 >= 45);
  });
  test('rejects with AbortedError on abort, and at once when already aborted', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort();
    await assert.rejects(p, AbortedError);
    await assert.rejects(sleep(10_000, ac.signal), AbortedError);
  });
});

test('generateKey: a fresh ed25519 pair, private key 0600', { timeout: 20_000 }, async () => {
  const dir = tempDir();
  const k = await generateKey(dir);
  assert.equal(k.privateKeyPath, join(dir, 'id_ed25519'));
  assert.match(k.publicKey, /^ssh-ed25519 \S+ vexfs-image-ephemeral$/);
  assert.equal(statSync(k.privateKeyPath).mode & 0o777, 0o600);
  assert.match(readFileSync(k.privateKeyPath, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/);
  const other = await generateKey(tempDir());
  assert.notEqual(other.publicKey, k.publicKey, 'never reused');
});

describe('with a fake ssh on PATH (runs the remote command locally)', { timeout: 30_000 }, () => {
  const bin = tempDir();
  const attempts = join(bin, 'attempts');
  const savedPath = process.env.PATH;
  before(() => {
    // Skips everything up to "--", then runs the remote command with sh, like sshd would.
    // When $FAKE_SSH_FAIL_FIRST is set, the first N attempts fail like an sshd not up yet.
    fakeBin(
      bin,
      'ssh',
      `echo x >> ${attempts}
n=$(wc -l < ${attempts})
if [ -n "$FAKE_SSH_FAIL_FIRST" ] && [ "$n" -le "$FAKE_SSH_FAIL_FIRST" ]; then
  echo "ssh: connect to host 127.0.0.1 port 40022: Connection refused" >&2; exit 255
fi
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done; shift
exec sh -c "$1"`,
    );
    process.env.PATH = `${bin}${delimiter}${savedPath}`;
  });
  after(() => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_SSH_FAIL_FIRST;
  });
  const reset = (failFirst?: number): void => {
    rmSync(attempts, { force: true });
    if (failFirst === undefined) delete process.env.FAKE_SSH_FAIL_FIRST;
    else process.env.FAKE_SSH_FAIL_FIRST = String(failFirst);
  };

  test('sshExec runs the command and reports failures as CommandError', async () => {
    reset();
    assert.equal((await sshExec(target, 'echo hi from guest')).stdout, 'hi from guest\n');
    await assert.rejects(sshExec(target, 'echo oops >&2; exit 4'), (e: unknown) => e instanceof CommandError && e.exitCode === 4 && /oops/.test(e.stderrTail));
  });

  test('sshScript sends the script on stdin, arguments quoted', async () => {
    reset();
    const r = await sshScript(target, 'printf "%s|" "$@"', ['plain', 'with space', "it's", '$(id)']);
    assert.equal(r.stdout, "plain|with space|it's|$(id)|");
  });

  test('sshUpload writes the bytes and the mode, even to a path with spaces', async () => {
    reset();
    const dir = tempDir();
    const dest = join(dir, 'up loaded.sh');
    await sshUpload(target, '#!/bin/sh\necho uploaded\n', dest, '0755');
    assert.equal(readFileSync(dest, 'utf8'), '#!/bin/sh\necho uploaded\n');
    assert.equal(statSync(dest).mode & 0o777, 0o755);
  });

  test('waitForSsh polls until ssh succeeds', async () => {
    reset(2);
    const ms = await waitForSsh(target, { timeoutMs: 10_000, intervalMs: 20, bannerPollMs: false });
    assert.equal(typeof ms, 'number');
    assert.equal(readFileSync(attempts, 'utf8').split('\n').filter(Boolean).length, 3);
  });

  test('waitForSsh times out with the last ssh error in the message', async () => {
    reset(1000);
    await assert.rejects(waitForSsh(target, { timeoutMs: 200, intervalMs: 20, bannerPollMs: false }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError);
      assert.match(e.message, /SSH on 127\.0\.0\.1:40022 not ready/);
      assert.match(e.message, /Connection refused/);
      return true;
    });
  });

  test('waitForSsh stops as soon as check() throws (the VM died)', async () => {
    reset(1000);
    let calls = 0;
    await assert.rejects(
      waitForSsh(target, {
        timeoutMs: 10_000,
        intervalMs: 20,
        bannerPollMs: false,
        check: () => {
          if (++calls === 2) throw new Error('guest boot failed: kernel panic');
        },
      }),
      /kernel panic/,
    );
    assert.equal(calls, 2);
  });

  test('waitForSsh runs ssh only once the port answers with an SSH banner', async () => {
    reset(0);
    // Like QEMU's forwarding before the guest's sshd is up: connections accepted, then closed.
    let conns = 0;
    const server = await serve((sock) => {
      conns++;
      if (conns <= 3) sock.destroy();
      else sock.end('SSH-2.0-OpenSSH_10.0\r\n');
    });
    try {
      await waitForSsh({ ...target, port: server.port }, { timeoutMs: 10_000, intervalMs: 20, bannerPollMs: 20 });
      assert.equal(conns, 4);
      assert.equal(readFileSync(attempts, 'utf8').split('\n').filter(Boolean).length, 1);
    } finally {
      server.close();
    }
  });

  test('waitForSsh: once the guest answered with a reset, a slow sshd is waited for on one connection, not polled', async () => {
    reset(0);
    // Two resets (sshd not started), then an sshd that takes 2.5 s to say its banner: a
    // 2-second probe would drop that connection and open more.
    let conns = 0;
    const server = await serve((sock) => {
      conns++;
      if (conns <= 2) sock.destroy();
      else setTimeout(() => sock.end('SSH-2.0-OpenSSH_10.0\r\n'), 2500);
    });
    try {
      await waitForSsh({ ...target, port: server.port }, { timeoutMs: 20_000, intervalMs: 20, bannerPollMs: 20 });
      assert.equal(conns, 3);
    } finally {
      server.close();
    }
  });

  test('waitForSsh without a banner times out saying so, and never runs ssh', async () => {
    reset(0);
    const server = await serve((sock) => sock.destroy());
    try {
      await assert.rejects(waitForSsh({ ...target, port: server.port }, { timeoutMs: 300, intervalMs: 20, bannerPollMs: 20 }), /not ready after .*no SSH banner/);
      assert.equal(existsSync(attempts), false, 'ssh was run');
    } finally {
      server.close();
    }
  });

  test('waitForSsh asks check() once more at the deadline: a crash found then is reported, not a timeout', async () => {
    reset(1000);
    const t0 = Date.now();
    await assert.rejects(
      waitForSsh(target, {
        timeoutMs: 200,
        intervalMs: 20,
        bannerPollMs: false,
        check: () => {
          if (Date.now() - t0 > 200) throw new Error('guest boot failed: kernel panic');
        },
      }),
      (e: unknown) => !(e instanceof TimeoutError) && /kernel panic/.test(String(e)),
    );
  });

  test('waitForSsh: abort gives AbortedError', async () => {
    reset(1000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(waitForSsh(target, { timeoutMs: 10_000, intervalMs: 20, bannerPollMs: false, signal: ac.signal }), AbortedError);
  });
});
