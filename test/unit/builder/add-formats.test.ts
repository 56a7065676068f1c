// Formats added to an up-to-date image (build --format after a plain build): written from the
// published qcow2 by qemu-img, checksummed, listed in the manifest and the provenance; the image
// and its other files untouched; a listed format whose file is gone is written again.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { addFormats, mergedFormats, missingFormats, withSubjects } from '../../../src/builder/add-formats.js';
import { acquireLock } from '../../../src/base/lock.js';
import type { ImageManifest } from '../../../src/builder/manifest.js';
import { sha256File } from '../../../src/tools/hash.js';
import { tempDir } from '../../helpers/fs.js';

const NAME = 'vexfs-minimal-1.0.0';
const sha = (b: string | Buffer): string => createHash('sha256').update(b).digest('hex');

/** A published image as finalise leaves it: a 64 MiB qcow2 with data, its .sha256, a manifest and a provenance. */
async function published(): Promise<{ dir: string; buildDir: string; manifestPath: string }> {
  const root = tempDir();
  const dir = join(root, 'images');
  spawnSync('mkdir', ['-p', dir]);
  const raw = join(root, 'seed.raw');
  writeFileSync(raw, Buffer.concat([Buffer.alloc(2 ** 20, 7), Buffer.alloc(63 * 2 ** 20)]));
  const qcow2 = join(dir, `${NAME}.qcow2`);
  assert.equal(spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2]).status, 0);
  const imageSha = await sha256File(qcow2);
  writeFileSync(`${qcow2}.sha256`, `${imageSha}  ${NAME}.qcow2\n`);
  const prov = `${JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: `${NAME}.qcow2`, digest: { sha256: imageSha } }], predicate: { x: 1 } }, null, 2)}\n`;
  writeFileSync(join(dir, `${NAME}.intoto.json`), prov);
  const m = {
    schema: 'vexfs-image/manifest@1',
    name: NAME,
    variant: 'minimal',
    version: '1.0.0',
    files: { image: { name: `${NAME}.qcow2`, size: statSync(qcow2).size, sha256: imageSha, virtual_size: 64 * 2 ** 20 }, compressed: { name: `${NAME}.qcow2.gz`, size: 1, sha256: 'c'.repeat(64) } },
    architecture: 'amd64',
    build_date: '2026-12-07T00:00:00.000Z',
    tool: { name: 'vexfs-image', version: '0.1.0', host_tools: {} },
    accelerator: 'tcg',
    base: { spec: 'debian-13', path: '', source: '', sha256: 'd'.repeat(64), preinstalled_packages: [] },
    source: { path: '/src', commit: null, transport: null },
    kernel: null,
    module: { vermagic: null, sha256: null, version: null },
    vexctl: { sha256: null },
    installed_packages: null,
    inputs: null,
    supply: { sbom: { spdx: { name: 's', sha256: 's' }, cyclonedx: { name: 'c', sha256: 'c' }, packages: 0, crates: 0, artifacts: 0 }, provenance: { name: `${NAME}.intoto.json`, sha256: sha(prov) }, source_date_epoch: null, ms: 0 },
    artifacts: [],
    stage_times_ms: {},
  } satisfies Omit<ImageManifest, 'ssh_ready_ms' | 'cloud_init_ms' | 'clean_shutdown'> as unknown as ImageManifest;
  const manifestPath = join(dir, `${NAME}.json`);
  writeFileSync(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
  return { dir, buildDir: join(root, 'build'), manifestPath };
}

describe('formats added to an up-to-date image', () => {
  test('raw and vhd written, checksummed, in the manifest and the provenance; the image untouched', async () => {
    const p = await published();
    const imageBefore = statSync(join(p.dir, `${NAME}.qcow2`));
    const m0 = JSON.parse(readFileSync(p.manifestPath, 'utf8')) as ImageManifest;
    assert.deepEqual(await missingFormats(p.dir, m0, ['qcow2', 'raw', 'vhd']), ['raw', 'vhd']);

    const r = await addFormats({ outputDir: p.dir, lockFile: join(p.buildDir, '.vm-minimal.lock'), variantName: 'minimal', imageName: NAME, manifestPath: p.manifestPath, formats: ['raw', 'vhd'], signal: new AbortController().signal });
    assert.deepEqual(r.formats.map((f) => f.format), ['raw', 'vhd']);
    const sums = spawnSync('sha256sum', ['-c', `${NAME}.raw.sha256`, `${NAME}.vhd.sha256`], { cwd: p.dir, encoding: 'utf8' });
    assert.equal(sums.status, 0, sums.stdout + sums.stderr);

    const m = JSON.parse(readFileSync(p.manifestPath, 'utf8')) as ImageManifest;
    assert.deepEqual(m.files.formats!.map((f) => [f.format, f.name]), [['raw', `${NAME}.raw`], ['vhd', `${NAME}.vhd`]]);
    assert.equal(m.files.formats![0]!.sha256, await sha256File(join(p.dir, `${NAME}.raw`)));
    assert.equal(m.files.formats![1]!.virtual_size % 2 ** 20, 0);
    assert.match(readFileSync(join(p.dir, `${NAME}.manifest`), 'utf8'), /Format vhd:/);

    const provText = readFileSync(join(p.dir, `${NAME}.intoto.json`), 'utf8');
    assert.equal(m.supply!.provenance.sha256, sha(provText), 'the manifest names the new provenance');
    const prov = JSON.parse(provText) as { subject: Array<{ name: string; digest: { sha256: string } }>; predicate: unknown };
    assert.deepEqual(prov.subject.map((s) => s.name), [`${NAME}.qcow2`, `${NAME}.raw`, `${NAME}.raw.sha256`, `${NAME}.vhd`, `${NAME}.vhd.sha256`]);
    assert.equal(prov.subject.find((s) => s.name === `${NAME}.vhd.sha256`)!.digest.sha256, sha(readFileSync(join(p.dir, `${NAME}.vhd.sha256`))));
    assert.deepEqual(prov.predicate, { x: 1 }, 'the rest of the statement is kept');

    const imageAfter = statSync(join(p.dir, `${NAME}.qcow2`));
    assert.equal(imageAfter.mtimeMs, imageBefore.mtimeMs);
    assert.deepEqual(readdirSync(p.dir).filter((f) => f.startsWith('.')), [], 'no partial directory left');

    // Asked again: nothing missing. A listed format whose file is gone: written again, listed once.
    assert.deepEqual(await missingFormats(p.dir, m, ['qcow2', 'raw', 'vhd']), []);
    rmSync(join(p.dir, `${NAME}.raw`));
    assert.deepEqual(await missingFormats(p.dir, m, ['qcow2', 'raw', 'vhd']), ['raw']);
    await addFormats({ outputDir: p.dir, lockFile: join(p.buildDir, '.vm-minimal.lock'), variantName: 'minimal', imageName: NAME, manifestPath: p.manifestPath, formats: ['raw'], signal: new AbortController().signal });
    const m2 = JSON.parse(readFileSync(p.manifestPath, 'utf8')) as ImageManifest;
    assert.deepEqual(m2.files.formats!.map((f) => f.format), ['raw', 'vhd']);
    assert.equal(spawnSync('sha256sum', ['-c', `${NAME}.raw.sha256`], { cwd: p.dir }).status, 0);
  });

  test('a build of the same variant holding the lock: refused, nothing written', async () => {
    const p = await published();
    spawnSync('mkdir', ['-p', p.buildDir]);
    const lock = await acquireLock(join(p.buildDir, '.vm-minimal.lock'), { mode: 'exclusive', timeoutMs: 0, purpose: 'test' });
    assert.ok(lock);
    try {
      await assert.rejects(
        addFormats({ outputDir: p.dir, lockFile: join(p.buildDir, '.vm-minimal.lock'), variantName: 'minimal', imageName: NAME, manifestPath: p.manifestPath, formats: ['raw'], signal: new AbortController().signal }),
        /another build of minimal is running/,
      );
    } finally {
      await lock.release();
    }
    assert.deepEqual(readdirSync(p.dir).sort(), [`${NAME}.intoto.json`, `${NAME}.json`, `${NAME}.qcow2`, `${NAME}.qcow2.sha256`]);
  });

  test('merged lists keep IMAGE_FORMATS order and replace a rewritten format; subjects sorted, replaced by name', () => {
    const old = [{ format: 'vhd', name: 'a.vhd', size: 1, sha256: 'x', virtual_size: 1, checked: '', ms: 1 }, { format: 'gce', name: 'a.gce.tar.gz', size: 1, sha256: 'y', virtual_size: 1, checked: '', ms: 1 }];
    const added = [{ format: 'raw' as const, name: 'a.raw', path: '/a.raw', size: 2, sha256: 'z', virtualSize: 2, checked: '', ms: 1, hashMs: 1 }, { format: 'vhd' as const, name: 'a.vhd', path: '/a.vhd', size: 3, sha256: 'w', virtualSize: 3, checked: '', ms: 1, hashMs: 1 }];
    assert.deepEqual(mergedFormats(old, added).map((f) => [f.format, f.sha256]), [['raw', 'z'], ['vhd', 'w'], ['gce', 'y']]);
    const s = withSubjects({ subject: [{ name: 'b', digest: { sha256: '1' } }, { name: 'a.vhd', digest: { sha256: 'old' } }] }, [{ name: 'a.vhd', sha256: 'new' }, { name: 'a', sha256: '2' }]);
    assert.deepEqual(s.subject, [{ name: 'a', digest: { sha256: '2' } }, { name: 'a.vhd', digest: { sha256: 'new' } }, { name: 'b', digest: { sha256: '1' } }]);
    assert.throws(() => withSubjects({}, []), /no subject list/);
  });
});
