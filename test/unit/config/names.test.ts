import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkVariantName, checkVersion, parseSize } from '../../../src/config/names.js';
import { UsageError } from '../../../src/errors.js';
import { exitCodeFor } from '../../../src/cli/exit-codes.js';

function rejects(fn: () => unknown, value: string, from: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof UsageError, `expected UsageError for ${JSON.stringify(value)}`);
    assert.equal(exitCodeFor(e), 2);
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.message.includes(JSON.stringify(value)), `names the value: ${e.message}`);
    assert.ok(e.message.includes(from), `names where it came from: ${e.message}`);
    return true;
  });
}

describe('checkVersion', () => {
  for (const v of ['1.0.0', '2.0.0-rc1', '1.0+git20240101~1', '0', 'v2']) {
    test(`accepts ${JSON.stringify(v)}`, () => assert.equal(checkVersion(v), v));
  }
  for (const v of ['a/b', '..', '1..0', '1 0', '1;rm', '$(x)', '`x`', '-1', '.1', '', '1.0/../x', '1\n0', '1&2', "1'0", 'é1']) {
    test(`rejects ${JSON.stringify(v)}`, () => rejects(() => checkVersion(v, 'VEXFS_VERSION'), v, 'VEXFS_VERSION'));
  }
  test('the message says what is allowed', () => {
    assert.throws(() => checkVersion('1 0'), /must match \^\[0-9A-Za-z\]\[0-9A-Za-z\.\+~-\]\*\$ and contain no '\.\.'/);
  });
});

describe('checkVariantName', () => {
  for (const v of ['minimal', 'production', 'dev-2', 'x']) {
    test(`accepts ${JSON.stringify(v)}`, () => assert.equal(checkVariantName(v), v));
  }
  for (const v of ['a/b', '..', '1 0', 'a b', '1;rm', '$(x)', 'Prod', '-x', '2fast', '', 'a.b', 'a_b', 'dev\n']) {
    test(`rejects ${JSON.stringify(v)}`, () => rejects(() => checkVariantName(v, 'IMAGE_VARIANT'), v, 'IMAGE_VARIANT'));
  }
});

describe('parseSize', () => {
  test('units', () => {
    assert.equal(parseSize('10G'), 10 * 2 ** 30);
    assert.equal(parseSize('512M'), 512 * 2 ** 20);
    assert.equal(parseSize('512MiB'), 512 * 2 ** 20);
    assert.equal(parseSize('1.5g'), 1.5 * 2 ** 30);
    assert.equal(parseSize('2048'), 2048);
    assert.equal(parseSize(' 1T '), 2 ** 40);
  });
  test('rejects garbage, naming the flag', () => {
    for (const s of ['ten', '10X', '-1G', '', '10 G B']) assert.throws(() => parseSize(s), (e: unknown) => e instanceof UsageError && e.message.includes('--disk-size'), s);
  });
});
