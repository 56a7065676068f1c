import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_FILE_NAME, DEFAULTS, loadConfig, parseConfigText, resolveBuildPlan, type BuildFlags } from '../../../src/config/load.js';
import { BUILTIN_VARIANTS, DEFAULT_BASE_PACKAGES } from '../../../src/config/variants.js';
import { UsageError } from '../../../src/errors.js';
import { EXAMPLE_SOURCE } from '../../../src/paths.js';
import { tempDir } from '../../helpers/fs.js';

/** A source tree with the given vexfs-image.yaml (or none), and a cwd to resolve paths from. */
function tree(yaml?: string): { source: string; cwd: string } {
  const root = tempDir();
  const source = join(root, 'src');
  mkdirSync(source);
  if (yaml !== undefined) writeFileSync(join(source, CONFIG_FILE_NAME), yaml);
  const cwd = join(root, 'cwd');
  mkdirSync(cwd);
  return { source, cwd };
}

const FILE = `
version: 3.0.0-file
variant: development
memory: 4096
cpus: 4
disk_size: 20G
output_dir: out-from-file
variants:
  tiny:
    description: smallest possible
    packages: [busybox]
    slim: true
`;

function plan(flags: BuildFlags, env: NodeJS.ProcessEnv, t: { source: string; cwd: string }) {
  return resolveBuildPlan({ source: t.source, ...flags }, env, t.cwd);
}

describe('resolveBuildPlan precedence: flags > env > file > defaults', () => {
  test('defaults when nothing is given', () => {
    const t = tree();
    const p = plan({}, {}, t);
    assert.equal(p.variantName, DEFAULTS.variant);
    assert.equal(p.version, DEFAULTS.version);
    assert.equal(p.memoryMb, DEFAULTS.memoryMb);
    assert.equal(p.cpus, DEFAULTS.cpus);
    assert.equal(p.diskSizeBytes, 10 * 2 ** 30);
    assert.equal(p.outputDir, join(t.cwd, 'images'));
    assert.equal(p.buildDir, join(t.cwd, 'build'));
    assert.deepEqual(p.basePackages, DEFAULT_BASE_PACKAGES);
    assert.deepEqual(p.variant, BUILTIN_VARIANTS.production);
    assert.equal(p.sourceDir, t.source);
  });

  test('the file beats the defaults', () => {
    const t = tree(FILE);
    const p = plan({}, {}, t);
    assert.equal(p.variantName, 'development');
    assert.equal(p.version, '3.0.0-file');
    assert.equal(p.memoryMb, 4096);
    assert.equal(p.cpus, 4);
    assert.equal(p.diskSizeBytes, 20 * 2 ** 30);
    assert.equal(p.outputDir, join(t.cwd, 'out-from-file'));
  });

  test('env beats the file', () => {
    const p = plan({}, { VEXFS_VERSION: '4.0.0-env', IMAGE_VARIANT: 'minimal' }, tree(FILE));
    assert.equal(p.variantName, 'minimal');
    assert.equal(p.version, '4.0.0-env');
  });

  test('flags beat env and file', () => {
    const p = plan({ version: '5.0.0-flag', variant: 'production', memory: 1024, cpus: 1, outputDir: '/abs/out' }, { VEXFS_VERSION: '4.0.0-env', IMAGE_VARIANT: 'minimal' }, tree(FILE));
    assert.equal(p.variantName, 'production');
    assert.equal(p.version, '5.0.0-flag');
    assert.equal(p.memoryMb, 1024);
    assert.equal(p.cpus, 1);
    assert.equal(p.outputDir, '/abs/out');
  });

  test('empty env variables count as unset', () => {
    const p = plan({}, { VEXFS_VERSION: '', IMAGE_VARIANT: '' }, tree(FILE));
    assert.equal(p.variantName, 'development');
    assert.equal(p.version, '3.0.0-file');
  });

  test('preinstall: the packages go into a Debian base built here, unless disabled or the base is downloaded', () => {
    const t = tree();
    const expected = [...DEFAULT_BASE_PACKAGES, ...BUILTIN_VARIANTS.production!.packages];
    assert.deepEqual(plan({}, {}, t).preinstall, expected);
    assert.deepEqual(plan({ base: 'debian-12' }, {}, t).preinstall, expected);
    assert.deepEqual(plan({ preinstall: false }, {}, t).preinstall, []);
    assert.deepEqual(plan({ base: 'ubuntu-24.04' }, {}, t).preinstall, []);
    const local = join(t.cwd, 'image.qcow2');
    writeFileSync(local, '');
    assert.deepEqual(plan({ base: local }, {}, t).preinstall, []);
    assert.deepEqual(plan({}, {}, tree('preinstall_packages: false\n')).preinstall, []);
  });

  test('the plan is frozen', () => {
    const p = plan({}, {}, tree());
    assert.ok(Object.isFrozen(p));
    assert.ok(Object.isFrozen(p.basePackages));
    assert.throws(() => {
      (p as { version: string }).version = 'x';
    }, TypeError);
  });

  test('cache dir: flag, else VEXFS_IMAGE_CACHE_DIR, else XDG_CACHE_HOME/vexfs-image', () => {
    const t = tree();
    assert.equal(plan({ cacheDir: 'c' }, {}, t).cacheDir, join(t.cwd, 'c'));
    assert.equal(plan({}, { VEXFS_IMAGE_CACHE_DIR: '/x/cache' }, t).cacheDir, '/x/cache');
    assert.equal(plan({}, { XDG_CACHE_HOME: '/xdg' }, t).cacheDir, '/xdg/vexfs-image');
  });
});

describe('variants', () => {
  test('the three built-ins exist with the spec\'s traits', () => {
    assert.deepEqual(Object.keys(BUILTIN_VARIANTS).sort(), ['development', 'minimal', 'production']);
    assert.equal(BUILTIN_VARIANTS.minimal!.slim, true);
    assert.equal(BUILTIN_VARIANTS.minimal!.keep_toolchain, false);
    assert.equal(BUILTIN_VARIANTS.development!.keep_toolchain, true);
    assert.ok(BUILTIN_VARIANTS.development!.packages.includes('gdb'));
    assert.equal(BUILTIN_VARIANTS.production!.hardening, true);
  });

  test('a user-defined variant in the file works, with schema defaults filled in', () => {
    const p = plan({ variant: 'tiny' }, {}, tree(FILE));
    assert.equal(p.variantName, 'tiny');
    assert.deepEqual(p.variant, { description: 'smallest possible', packages: ['busybox'], slim: true, keep_toolchain: false, hardening: false });
  });

  test('the file may redefine a built-in variant', () => {
    const p = plan({ variant: 'minimal' }, {}, tree('variants:\n  minimal:\n    packages: [htop]\n'));
    assert.deepEqual(p.variant.packages, ['htop']);
  });

  test('unknown variant: UsageError listing the known ones (built-in and the file\'s) and where the name came from', () => {
    assert.throws(
      () => plan({}, { IMAGE_VARIANT: 'huge' }, tree(FILE)),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.match(e.message, /unknown variant "huge" \(from IMAGE_VARIANT\): known variants are minimal, development, production, tiny/);
        assert.ok(!e.message.includes('\n'));
        assert.match(e.hint ?? '', /variants:/);
        return true;
      },
    );
  });

  for (const bad of ['a/b', '..', '1 0', '1;rm', '$(x)']) {
    test(`variant ${JSON.stringify(bad)} from a flag is rejected before anything is looked up`, () => {
      assert.throws(() => plan({ variant: bad }, {}, tree()), (e: unknown) => e instanceof UsageError && e.message.includes('invalid variant name') && e.message.includes('--variant'));
    });
    test(`version ${JSON.stringify(bad)} from the environment is rejected`, () => {
      assert.throws(() => plan({}, { VEXFS_VERSION: bad }, tree()), (e: unknown) => e instanceof UsageError && e.message.includes('invalid version') && e.message.includes('VEXFS_VERSION'));
    });
  }

  test('an explicit empty --variant or --version is an error, not the default', () => {
    assert.throws(() => plan({ variant: '' }, {}, tree()), /invalid variant name "" \(from --variant\)/);
    assert.throws(() => plan({ version: '' }, {}, tree()), /invalid version "" \(from --version\)/);
  });

  test('a version with ".." in the file is rejected, naming the file', () => {
    assert.throws(() => plan({}, {}, tree('version: "1..0"\n')), /invalid version "1\.\.0" \(from vexfs-image\.yaml\)/);
  });
});

describe('numbers and sizes', () => {
  test('bad values from flags are UsageErrors naming the flag', () => {
    const t = tree();
    assert.throws(() => plan({ memory: 100 }, {}, t), /--memory 100: at least 512/);
    assert.throws(() => plan({ cpus: 0 }, {}, t), /--cpus 0/);
    assert.throws(() => plan({ timeout: 1.5 }, {}, t), /--timeout 1\.5/);
    assert.throws(() => plan({ diskSize: '1G' }, {}, t), /at least 2G/);
    assert.throws(() => plan({ diskSize: 'big' }, {}, t), /invalid size "big"/);
  });
});

describe('config file errors name the key, the value and what is allowed', () => {
  const cases: Array<[string, string, RegExp[]]> = [
    ['an unknown top-level key', 'colour: red\n', [/unknown key colour = "red"/, /allowed keys are .*version.*variant.*memory/]],
    ['an unknown variant key', 'variants:\n  dev2:\n    colour: red\n', [/unknown key variants\.dev2\.colour = "red"/, /allowed keys in variants\.dev2 are description, packages, keep_toolchain, slim, hardening/]],
    ['too little memory', 'memory: 100\n', [/memory = 100/, />=512/]],
    ['a string for a number', 'cpus: two\n', [/cpus = "two"/, /expected number/]],
    ['a bad version', 'version: "1 0"\n', [/version = "1 0"/, /must match pattern/]],
    ['a bad variant name as a key', 'variants:\n  Bad_Name: {}\n', [/invalid key "Bad_Name"/, /a variant name matching \^\[a-z\]\[a-z0-9-\]\*\$/]],
    ['a bad check type', 'checks:\n  - id: a\n    type: nope\n', [/checks\[0\]\.type = "nope"/, /command.*file.*service/]],
    ['a bad boolean in a variant', 'variants:\n  x:\n    slim: 3\n', [/variants\.x\.slim = 3/, /expected boolean/]],
  ];
  for (const [name, yaml, patterns] of cases) {
    test(name, () => {
      assert.throws(
        () => parseConfigText(yaml, '/p/vexfs-image.yaml'),
        (e: unknown) => {
          assert.ok(e instanceof UsageError);
          assert.ok(e.message.startsWith('/p/vexfs-image.yaml: '), e.message);
          for (const p of patterns) assert.match(e.message, p);
          assert.match(e.hint ?? '', /schema\/vexfs-image\.schema\.json/);
          return true;
        },
      );
    });
  }

  test('invalid YAML: UsageError with the parser\'s first line', () => {
    assert.throws(() => parseConfigText('a: [1, 2\n', 'f.yaml'), (e: unknown) => e instanceof UsageError && /^f\.yaml: not valid YAML: /.test(e.message) && !e.message.includes('\n'));
  });

  test('an empty file is an empty config', () => {
    assert.deepEqual(parseConfigText('', 'f.yaml'), {});
    assert.deepEqual(parseConfigText('# only a comment\n', 'f.yaml'), {});
  });
});

describe('loadConfig', () => {
  test('reads <source>/vexfs-image.yaml; --config overrides its location', () => {
    const t = tree('version: 1.2.3\n');
    const c = loadConfig({ source: t.source }, t.cwd);
    assert.equal(c.configPath, join(t.source, CONFIG_FILE_NAME));
    assert.equal(c.file.version, '1.2.3');
    writeFileSync(join(t.cwd, 'other.yaml'), 'version: 9.9.9\n');
    const o = loadConfig({ source: t.source, config: 'other.yaml' }, t.cwd);
    assert.equal(o.configPath, join(t.cwd, 'other.yaml'));
    assert.equal(o.file.version, '9.9.9');
  });

  test('no file is fine; a missing --config file is a UsageError', () => {
    const t = tree();
    assert.equal(loadConfig({ source: t.source }, t.cwd).configPath, undefined);
    assert.throws(() => loadConfig({ source: t.source, config: 'nope.yaml' }, t.cwd), (e: unknown) => e instanceof UsageError && /nope\.yaml does not exist/.test(e.message));
  });

  test('a missing --source is a UsageError with a hint; no --source means the bundled example', () => {
    const t = tree();
    assert.throws(() => loadConfig({ source: 'missing-dir' }, t.cwd), (e: unknown) => e instanceof UsageError && /missing-dir does not exist/.test(e.message) && /--source/.test(e.hint ?? ''));
    assert.equal(loadConfig({}, t.cwd).sourceDir, EXAMPLE_SOURCE);
  });

  test('resolving a plan writes nothing', () => {
    const t = tree(FILE);
    plan({}, {}, t);
    assert.throws(() => plan({ variant: 'a/b' }, {}, t), UsageError);
    assert.deepEqual(readdirSync(t.cwd), []);
    assert.deepEqual(readdirSync(t.source), [CONFIG_FILE_NAME]);
  });
});

describe('the Secure Boot chain in the base', () => {
  test('signing: preinstalls Debian\'s shim and signed GRUB (its base gets the shim ESP); an unsigned build does not', () => {
    const signed = plan({ variant: 'minimal' }, {}, tree('signing: { generate: true }\n'));
    const unsigned = plan({ variant: 'minimal' }, {}, tree());
    for (const p of ['shim-signed', 'grub-efi-amd64-signed']) {
      assert.ok(signed.preinstall.includes(p), `${p} not preinstalled for a signed build: ${signed.preinstall.join(' ')}`);
      assert.ok(!unsigned.preinstall.includes(p), `${p} preinstalled for an unsigned build`);
    }
    assert.deepEqual(signed.preinstall.filter((p) => !unsigned.preinstall.includes(p)), ['shim-signed', 'grub-efi-amd64-signed']);
  });
});
