// `vexfs-image ssh`: argv assembly, NAME/COMMAND splitting and which instance is chosen.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { instanceSshArgs, plainSshCommand, readyLines, remoteCommandLine, selectInstance, splitNameAndCommand } from '../../../src/run/connect.js';
import type { InstanceEntry, InstanceState } from '../../../src/run/state.js';
import { exitCodeFor, describeError } from '../../../src/cli/exit-codes.js';

function state(name: string, over: Partial<InstanceState> = {}): InstanceState {
  return {
    name,
    image: `/img/${name}.qcow2`,
    pid: 100,
    user: 'vexfs',
    key: `/c/instances/${name}/id_ed25519`,
    knownHosts: `/c/instances/${name}/known_hosts`,
    serialLog: `/c/instances/${name}/serial.log`,
    sshPort: 40022,
    startedAt: '2026-01-01T00:00:00.000Z',
    status: 'ready',
    ...over,
  };
}
const entry = (name: string, running = true, over: Partial<InstanceState> = {}): InstanceEntry => ({ dir: `/c/instances/${name}`, state: state(name, over), running });

test('remoteCommandLine: none, one shell command line as is, several quoted word by word', () => {
  assert.equal(remoteCommandLine([]), undefined);
  assert.equal(remoteCommandLine(['dmesg | tail']), 'dmesg | tail');
  assert.equal(remoteCommandLine(['uname', '-r']), 'uname -r');
  assert.equal(remoteCommandLine(['sh', '-c', 'exit 3']), "sh -c 'exit 3'");
  assert.equal(remoteCommandLine(['echo', "it's", '$HOME']), `echo 'it'\\''s' '$HOME'`);
});

test("instanceSshArgs: the instance's key, port and known_hosts, accept-new, loopback only", () => {
  const args = instanceSshArgs(state('dev'), ['sh', '-c', 'exit 3']);
  assert.deepEqual(args.slice(0, 4), ['-i', '/c/instances/dev/id_ed25519', '-p', '40022']);
  const opts = args.filter((_, i) => args[i - 1] === '-o');
  assert.ok(opts.includes('UserKnownHostsFile=/c/instances/dev/known_hosts'));
  assert.ok(opts.includes('StrictHostKeyChecking=accept-new'));
  assert.ok(opts.includes('IdentitiesOnly=yes'));
  assert.ok(opts.includes('BatchMode=yes'));
  assert.deepEqual(args.slice(-3), ['vexfs@127.0.0.1', '--', "sh -c 'exit 3'"]);
  assert.ok(!args.includes('-t'));
  // Interactive: no command at all, the destination is last.
  assert.equal(instanceSshArgs(state('dev')).at(-1), 'vexfs@127.0.0.1');
  assert.deepEqual(instanceSshArgs(state('dev'), ['top'], { tty: true }).slice(-4), ['-t', 'vexfs@127.0.0.1', '--', 'top']);
  assert.throws(() => instanceSshArgs(state('dev', { sshPort: undefined })), /still starting/);
});

test('plainSshCommand and readyLines: pasteable, paths quoted when needed', () => {
  assert.equal(
    plainSshCommand(state('dev')),
    'ssh -i /c/instances/dev/id_ed25519 -p 40022 -o IdentitiesOnly=yes -o UserKnownHostsFile=/c/instances/dev/known_hosts vexfs@127.0.0.1',
  );
  assert.match(plainSshCommand(state('dev', { key: '/my dir/id' })), /^ssh -i '\/my dir\/id' -p/);
  const lines = readyLines(state('dev')).split('\n');
  assert.equal(lines[0], 'ready: vexfs-image ssh dev');
  assert.equal(lines[1], `   or: ${plainSshCommand(state('dev'))}`);
});

describe('splitNameAndCommand (operands without the --, and what followed the --)', () => {
  const cases: Array<[string, string[], string[] | undefined, { name?: string; command: string[] }]> = [
    ['nothing', [], undefined, { command: [] }],
    ['NAME', ['dev'], undefined, { name: 'dev', command: [] }],
    ['NAME COMMAND', ['dev', 'uname'], undefined, { name: 'dev', command: ['uname'] }],
    ['NAME -- COMMAND', ['dev', 'uname', '-r'], ['uname', '-r'], { name: 'dev', command: ['uname', '-r'] }],
    ['-- COMMAND (default instance)', ['uname', '-r'], ['uname', '-r'], { command: ['uname', '-r'] }],
    ['NAME --', ['dev'], [], { name: 'dev', command: [] }],
    ['-- --list is a command', ['dev', '--list'], ['--list'], { name: 'dev', command: ['--list'] }],
  ];
  for (const [what, operands, after, want] of cases) test(what, () => assert.deepEqual(splitNameAndCommand(operands, after), want));
  test('two words before -- is a usage error', () => {
    assert.throws(() => splitNameAndCommand(['a', 'b', 'c'], ['c']), (e: unknown) => exitCodeFor(e) === 2 && /one instance name before --, got "a" "b"/.test(describeError(e)));
  });
});

describe('selectInstance: usage errors (exit 2) that name the instances and say what to do', () => {
  const fails = (name: string | undefined, entries: InstanceEntry[], pattern: RegExp): void => {
    assert.throws(() => selectInstance(name, entries), (e: unknown) => {
      assert.equal(exitCodeFor(e), 2);
      assert.match(describeError(e), pattern);
      assert.ok(!describeError(e).includes('\n'));
      return true;
    });
  };
  test('the only running one, when no NAME', () => {
    assert.equal(selectInstance(undefined, [entry('old', false), entry('dev')]).state.name, 'dev');
  });
  test('the named one', () => {
    assert.equal(selectInstance('b', [entry('a'), entry('b')]).state.name, 'b');
  });
  test('none running', () => fails(undefined, [entry('old', false)], /^no instance is running \(start one: vexfs-image run IMAGE\)$/));
  test('several running', () => fails(undefined, [entry('a'), entry('b')], /^2 instances are running: a, b \(name one: vexfs-image ssh NAME\)$/));
  test('unknown NAME, others running', () => fails('c', [entry('a'), entry('b')], /^no running instance named c; running: a, b \(vexfs-image ssh --list shows them\)$/));
  test('unknown NAME, none running', () => fails('c', [], /^no running instance named c: no instance is running \(start one: vexfs-image run IMAGE --name c\)$/));
  test('NAME whose run is gone', () => fails('old', [entry('old', false)], /^instance old is not running \(its run process 100 is gone\) \(start it again: vexfs-image run \/img\/old\.qcow2 --name old\)$/));
  test('still starting', () => fails('a', [entry('a', true, { status: 'starting', sshPort: undefined })], /^instance a is still starting: SSH is not up yet/));
  test('powering off', () => fails(undefined, [entry('a', true, { status: 'stopping' })], /^instance a is powering off/));
});
