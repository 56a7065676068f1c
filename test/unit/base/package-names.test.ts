// Package names from the config reach apt as root on the host (mmdebstrap --include) and apt or
// dpkg-query in the guest: anything that is not a package name is refused at the config, and
// again at the mmdebstrap argument builder.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from '../../../src/config/load.js';
import { checkPackageNames, isDebianPackageName } from '../../../src/config/package-names.js';
import { mmdebstrapArgs } from '../../../src/tools/mmdebstrap.js';
import { UsageError } from '../../../src/errors.js';

const HOSTILE = [
  '-oAPT::Get::AllowUnauthenticated=true',
  '-o', '--allow-unauthenticated', 'foo,bar', 'foo bar', ' foo', 'Foo', 'a', '', '.hidden', '+x',
  'foo\nbar', 'foo;id', 'foo$(id)', 'foo/bar', 'foo=', 'foo:', 'foo=-1', 'foo:amd64,bar',
];
const GOOD = ['build-essential', 'g++', 'libc6:amd64', 'gcc=4:12.2.0-3', 'linux-headers-cloud-amd64', 'libstdc++6', 'x11-common:all=1:7.7+23'];

describe('Debian package names', () => {
  test('policy names, :ARCH and =VERSION are accepted', () => {
    for (const n of GOOD) assert.ok(isDebianPackageName(n), n);
  });

  test('options, separators, upper case, one-character and empty names are refused', () => {
    for (const n of HOSTILE) assert.equal(isDebianPackageName(n), false, JSON.stringify(n));
  });

  for (const key of ['base_packages', 'variants.x.packages'] as const) {
    test(`config ${key}: a "-o..." entry is a UsageError naming the entry`, () => {
      const yaml = key === 'base_packages' ? 'base_packages: [gcc, "-oAPT::Get::AllowUnauthenticated=true"]\n' : 'variants:\n  x:\n    packages: ["-oDpkg::Pre-Invoke::=id"]\n';
      assert.throws(() => parseConfigText(yaml, 'cfg.yaml'), (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, /^cfg\.yaml: (base_packages\[1\]|variants\.x\.packages\[0\]) = "-o[^"]+": a Debian package name/);
        return true;
      });
    });
  }

  test('config toolchain_packages: dpkg-query patterns pass, an option does not', () => {
    assert.deepEqual(parseConfigText('toolchain_packages: ["gcc-[0-9][0-9]", "linux-headers-*", "g++"]\n', 'c').toolchain_packages, ['gcc-[0-9][0-9]', 'linux-headers-*', 'g++']);
    for (const bad of ['-x', '--purge', 'a b', 'a,b', 'a;b']) {
      assert.throws(() => parseConfigText(`toolchain_packages: [${JSON.stringify(bad)}]\n`, 'c'), /toolchain_packages\[0\] = .*a dpkg-query pattern/, bad);
    }
  });

  test('config base_packages with good names parses', () => {
    assert.deepEqual(parseConfigText('base_packages: [gcc, "libc6:amd64", "gcc=4:12.2.0-3"]\n', 'c').base_packages, ['gcc', 'libc6:amd64', 'gcc=4:12.2.0-3']);
  });

  test('checkPackageNames names the first bad entry in one sentence', () => {
    assert.throws(() => checkPackageNames(['gcc', '-oX=1', '-oY'], '--include'), /^UsageError: invalid package name "-oX=1" in --include: it must be a Debian package name[^\n]*\.$/);
  });
});

describe('mmdebstrapArgs refuses what is not a package name (defence in depth)', () => {
  const spec = { suite: 'trixie', variant: 'minbase' as const, packages: ['sudo'], sources: ['deb http://m/debian trixie main'], target: '/w/root' };
  for (const bad of ['-oAPT::Get::AllowUnauthenticated=true', 'a,b', 'sudo --allow-downgrades']) {
    test(`--include ${JSON.stringify(bad)}`, () => {
      assert.throws(() => mmdebstrapArgs({ ...spec, packages: ['sudo', bad] }), UsageError);
    });
  }
  test('a suite or target starting with "-" is refused', () => {
    assert.throws(() => mmdebstrapArgs({ ...spec, suite: '--hook-dir=/x' }), /suite/);
    assert.throws(() => mmdebstrapArgs({ ...spec, target: '-x' }), /target/);
  });
  test('good names still give --include, sorted', () => {
    assert.ok(mmdebstrapArgs({ ...spec, packages: ['sudo', 'libc6:amd64'] }).includes('--include=libc6:amd64,sudo'));
  });
});
