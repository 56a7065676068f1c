// `run` and `ssh` in-process, without a VM: flag parsing, the checks made before anything
// starts (exit 2), `ssh --list`, and `ssh` against recorded instances with a fake ssh binary
// (its arguments, and its exit status passed on).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Writable } from 'node:stream';
import { buildProgram } from '../../../src/cli/program.js';
import type { CliContext } from '../../../src/cli/context.js';
import { childExitCode, describeError, exitCodeFor, exitCodeForOutcome } from '../../../src/cli/exit-codes.js';
import { resolveRun } from '../../../src/api.js';
import { formatUptime, listJson, listText } from '../../../src/cli/commands/ssh.js';
import { instancesRoot, processStartTime, writeState, type InstanceState } from '../../../src/run/state.js';
import { fakeBin, tempDir } from '../../helpers/fs.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

async function parse(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; message: string; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const codes: number[] = [];
  const ctx: CliContext = { signal: new AbortController().signal, env, stdout: out, stderr: err as unknown as NodeJS.WriteStream, setOutcome: (o) => codes.push(exitCodeForOutcome(o)) };
  try {
    await buildProgram(ctx).parseAsync(argv, { from: 'user' });
    return { code: Math.max(0, ...codes), message: '', out: out.text, err: err.text };
  } catch (e) {
    return { code: exitCodeFor(e), message: describeError(e), out: out.text, err: err.text };
  }
}

async function record(cache: string, name: string, over: Partial<InstanceState> = {}): Promise<InstanceState> {
  const dir = join(instancesRoot(cache), name);
  mkdirSync(dir, { recursive: true });
  const s: InstanceState = {
    name,
    image: `/img/${name}.qcow2`,
    pid: process.pid,
    pidStartTime: processStartTime(process.pid),
    qemuPid: 4242,
    sshPort: 40022,
    user: 'vexfs',
    key: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    serialLog: join(dir, 'serial.log'),
    startedAt: new Date(Date.now() - 75_000).toISOString(),
    readyAt: new Date().toISOString(),
    status: 'ready',
    ...over,
  };
  await writeState(dir, s);
  return s;
}

test('childExitCode: the exit code, or 128 + the signal number', () => {
  assert.equal(childExitCode(0, null), 0);
  assert.equal(childExitCode(3, null), 3);
  assert.equal(childExitCode(255, null), 255);
  assert.equal(childExitCode(null, 'SIGINT'), 130);
  assert.equal(childExitCode(null, 'SIGKILL'), 137);
  assert.equal(childExitCode(null, null), 1);
});

test('formatUptime', () => {
  assert.deepEqual([0, 42_000, 303_000, 7_500_000, -5].map(formatUptime), ['0s', '42s', '5m03s', '2h05m', '0s']);
});

describe('run: checked before anything starts', () => {
  test('resolveRun: the image path, the default name from the file name, the user', () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'images'));
    writeFileSync(join(cwd, 'images', 'vexfs-minimal-1.0.0.qcow2'), '');
    const r = resolveRun('vexfs-minimal-1.0.0', { imagesDir: 'images', user: 'vexfs' }, { VEXFS_IMAGE_CACHE_DIR: '/c' }, cwd);
    assert.deepEqual(r, { image: join(cwd, 'images', 'vexfs-minimal-1.0.0.qcow2'), name: 'vexfs-minimal-1.0.0', user: 'vexfs', cacheDir: '/c' });
    assert.equal(resolveRun('images/vexfs-minimal-1.0.0.qcow2', { name: 'dev', imagesDir: 'images', user: 'me' }, {}, cwd).name, 'dev');
  });

  const cases: Array<[string, string[], RegExp]> = [
    ['NAME with a slash', ['--name', 'a/b'], /^invalid instance name "a\/b" \(from --name\)/],
    ['NAME ..', ['--name', '..'], /^invalid instance name "\.\." \(from --name\)/],
    ['NAME with a space', ['--name', 'a b'], /^invalid instance name "a b"/],
    ['NAME with shell metacharacters', ['--name', '$(reboot)'], /^invalid instance name "\$\(reboot\)"/],
    ['user root', ['--user', 'root'], /^invalid user name "root" \(from --user\)/],
    ['bad memory', ['--memory', 'lots'], /--memory must be a whole number of at least 256, got "lots"/],
    ['bad boot timeout', ['--boot-timeout', '0'], /--boot-timeout must be a whole number of at least 1/],
    ['missing image', ['--images-dir', '/nonexistent'], /^image not found: missing\.qcow2/],
    ['unknown profile value', ['--profile', 'uefi,floppy'], /^--profile: unknown profile value "floppy"/],
    ['profile below the images\' memory', ['--profile', 'bios,256M'], /^--profile bios-virtio-blk-256m-2cpu: 256 MiB of memory is below the 512 MiB/],
  ];
  for (const [what, args, pattern] of cases) {
    test(`${what}: exit 2, one line, nothing created`, async () => {
      const cache = tempDir();
      const img = args.includes('--images-dir') ? 'missing.qcow2' : join(tempDir(), 'x.qcow2');
      if (!args.includes('--images-dir')) writeFileSync(img, '');
      const r = await parse(['run', img, ...args], { VEXFS_IMAGE_CACHE_DIR: cache });
      assert.equal(r.code, 2, r.message);
      assert.match(r.message, pattern);
      assert.ok(!r.message.includes('\n'));
      assert.equal(r.out, '');
      assert.deepEqual(readdirSync(cache), []);
    });
  }

  test('--profile uefi without OVMF on the host: exit 2 naming the Debian package, nothing created', async () => {
    const cache = tempDir();
    const img = join(tempDir(), 'x.qcow2');
    writeFileSync(img, '');
    const r = await parse(['run', img, '--profile', 'uefi,nvme'], { VEXFS_IMAGE_CACHE_DIR: cache, VEXFS_IMAGE_OVMF_CODE: '/nonexistent/OVMF_CODE.fd', VEXFS_IMAGE_OVMF_VARS: '/nonexistent/OVMF_VARS.fd' });
    assert.equal(r.code, 2, r.message);
    assert.match(r.message, /needs UEFI firmware \(OVMF\), which is not installed: .*Debian package ovmf/);
    assert.deepEqual(readdirSync(cache), []);
  });

  test('a NAME already running: exit 2 before any host check, suggests --name', async () => {
    const cache = tempDir();
    await record(cache, 'dev');
    const img = join(tempDir(), 'x.qcow2');
    writeFileSync(img, '');
    const r = await parse(['run', img, '--name', 'dev'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.equal(r.code, 2);
    assert.match(r.message, /^an instance named dev is already running \(pid \d+, \/img\/dev\.qcow2, .*pick another name with --name/);
    assert.deepEqual(readdirSync(cache), ['instances'], 'no accelerator probe, nothing else written');
  });
});

describe('ssh --list', () => {
  test('text and JSON list the running instances only', async () => {
    const cache = tempDir();
    await record(cache, 'dev');
    await record(cache, 'gone', { pid: 999_999_999 });
    const text = await parse(['ssh', '--list'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.equal(text.code, 0);
    assert.match(text.out, /^NAME +STATUS +PORT +UPTIME +USER +IMAGE\ndev +ready +40022 +1m1[5-9]s +vexfs +\/img\/dev\.qcow2\n$/);
    assert.equal(text.err, `stale: ${join(instancesRoot(cache), 'gone')} (its run, pid 999999999, is gone; the next run --name gone removes it, or rm -r it)\n`);
    const json = await parse(['ssh', '--list', '--json'], { VEXFS_IMAGE_CACHE_DIR: cache });
    const list = JSON.parse(json.out) as Array<Record<string, unknown>>;
    assert.deepEqual(list.map((e) => [e.name, e.sshPort, e.status, e.user, e.image, e.qemuPid]), [['dev', 40022, 'ready', 'vexfs', '/img/dev.qcow2', 4242]]);
    assert.match(String(list[0]!.ssh), /^ssh -i .*\/instances\/dev\/id_ed25519 -p 40022 .*vexfs@127\.0\.0\.1$/);
    assert.ok(Number(list[0]!.uptimeS) >= 75);
  });

  test('nothing running', async () => {
    const cache = tempDir();
    assert.equal((await parse(['ssh', '--list'], { VEXFS_IMAGE_CACHE_DIR: cache })).out, 'no instance is running (start one: vexfs-image run IMAGE)\n');
    assert.equal((await parse(['ssh', '--list', '--json'], { VEXFS_IMAGE_CACHE_DIR: cache })).out, '[]\n');
    assert.equal(listText([]), 'no instance is running (start one: vexfs-image run IMAGE)\n');
    assert.deepEqual(listJson([]), []);
  });

  test('--list with a NAME, or --json without --list: exit 2', async () => {
    const cache = tempDir();
    assert.equal((await parse(['ssh', '--list', 'dev'], { VEXFS_IMAGE_CACHE_DIR: cache })).code, 2);
    assert.equal((await parse(['ssh', '--json'], { VEXFS_IMAGE_CACHE_DIR: cache })).code, 2);
  });
});

describe('ssh against recorded instances (fake ssh on PATH)', () => {
  // Made here, not in before(): tempDir() registers its removal with the enclosing test or hook.
  const bin = tempDir();
  const argsFile = join(bin, 'args');
  // Records its arguments one per line; exits with the status the remote command asks for.
  fakeBin(bin, 'ssh', `printf '%s\\n' "$@" > ${argsFile}\ncase "$*" in *"exit 3"*) exit 3;; *KILLME*) kill -KILL $$;; esac\nexit 0`);
  const path = process.env.PATH;
  before(() => {
    process.env.PATH = `${bin}${delimiter}${path}`;
  });
  after(() => {
    process.env.PATH = path;
  });
  const sshArgs = (): string[] => readFileSync(argsFile, 'utf8').trimEnd().split('\n');

  test('NAME -- COMMAND: the instance key, port and known_hosts; the words quoted; exit status passed on', async () => {
    const cache = tempDir();
    const s = await record(cache, 'dev');
    await record(cache, 'other');
    const r = await parse(['ssh', 'dev', '--', 'sh', '-c', 'exit 3'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.equal(r.code, 3, r.message);
    const a = sshArgs();
    assert.deepEqual(a.slice(0, 4), ['-i', s.key, '-p', '40022']);
    assert.ok(a.includes(`UserKnownHostsFile=${s.knownHosts}`));
    assert.ok(a.includes('StrictHostKeyChecking=accept-new'));
    assert.deepEqual(a.slice(-3), ['vexfs@127.0.0.1', '--', "sh -c 'exit 3'"]);
  });

  test('-- COMMAND with one instance running: that one; exit 0', async () => {
    const cache = tempDir();
    await record(cache, 'only');
    const r = await parse(['ssh', '--', 'uname', '-r'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.equal(r.code, 0, r.message);
    assert.deepEqual(sshArgs().slice(-3), ['vexfs@127.0.0.1', '--', 'uname -r']);
  });

  test('no COMMAND: an interactive login (no remote command)', async () => {
    const cache = tempDir();
    await record(cache, 'only');
    assert.equal((await parse(['ssh'], { VEXFS_IMAGE_CACHE_DIR: cache })).code, 0);
    assert.equal(sshArgs().at(-1), 'vexfs@127.0.0.1');
  });

  test('ssh killed by a signal: 128 + signal', async () => {
    const cache = tempDir();
    await record(cache, 'only');
    assert.equal((await parse(['ssh', 'only', '--', 'KILLME'], { VEXFS_IMAGE_CACHE_DIR: cache })).code, 137);
  });

  test('several running and no NAME; an unknown NAME; a bad NAME: exit 2 naming them', async () => {
    const cache = tempDir();
    await record(cache, 'a');
    await record(cache, 'b');
    const several = await parse(['ssh', '--', 'true'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.deepEqual([several.code, several.message], [2, '2 instances are running: a, b (name one: vexfs-image ssh NAME)']);
    const unknown = await parse(['ssh', 'c'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.deepEqual([unknown.code, unknown.message], [2, 'no running instance named c; running: a, b (vexfs-image ssh --list shows them)']);
    const bad = await parse(['ssh', '../x'], { VEXFS_IMAGE_CACHE_DIR: cache });
    assert.equal(bad.code, 2);
    assert.match(bad.message, /^invalid instance name "\.\.\/x" \(from NAME\)/);
    const none = await parse(['ssh'], { VEXFS_IMAGE_CACHE_DIR: tempDir() });
    assert.deepEqual([none.code, none.message], [2, 'no instance is running (start one: vexfs-image run IMAGE)']);
  });
});
