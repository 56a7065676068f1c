#!/usr/bin/env node
// What each extra image format costs a build (issue 17's target: at most 15 s each), measured
// on a finished qcow2 with the build's own code (dist/, so run `npm run build` first): each
// format alone, writeFormat (convert and check) then its sha256, one after another; the GCE
// tarball twice, with pigz (when installed) and with gzip; then all four as finalise writes them
// (writeFormats: each hashed on a worker thread while the next converts).
// No VM boots. Usage: node scripts/bench-formats.mjs [IMAGE.qcow2] [--rounds N]
// (default image: the newest cached e2e test image). A table on stderr, JSON on stdout.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const { writeFormat, writeFormats } = await import(join(root, 'dist/src/builder/formats.js'));
const { sha256File } = await import(join(root, 'dist/src/tools/hash.js'));
const { imageInfo } = await import(join(root, 'dist/src/tools/qemu-img.js'));
const { defaultCacheDir } = await import(join(root, 'dist/src/paths.js'));

const argv = process.argv.slice(2);
const roundsAt = argv.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(argv.splice(roundsAt, 2)[1]) : 2;
let image = argv[0] ? resolve(argv[0]) : undefined;
if (!image) {
  const dir = join(defaultCacheDir(), 'test-images');
  const found = existsSync(dir) ? readdirSync(dir).flatMap((d) => readdirSync(join(dir, d)).filter((f) => f.endsWith('.qcow2')).map((f) => join(dir, d, f))) : [];
  image = found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}
if (!image || !existsSync(image)) {
  process.stderr.write('bench-formats: no image: give a qcow2, or run the e2e tests once to cache one\n');
  process.exit(2);
}

const info = await imageInfo(image, {}, 'qcow2');
const work = mkdtempSync(join(tmpdir(), 'vexfs-bench-formats-'));
const rows = [];
try {
  for (let round = 1; round <= rounds; round++) {
    let raw;
    for (const format of ['raw', 'vhd', 'vmdk', 'gce', 'gce-gzip']) {
      const dir = join(work, `${round}-${format}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir);
      const real = format === 'gce-gzip' ? 'gce' : format;
      // gce-gzip: the same tarball with gzip's single core instead of pigz.
      const t0 = Date.now();
      const f = await writeFormat(real, { qcow2: image, dir, imageName: 'bench', virtualSize: info.virtualSize, ...(raw ? { raw } : {}), ...(format === 'gce-gzip' ? { pigz: false } : {}) });
      const made = Date.now() - t0;
      const t1 = Date.now();
      await sha256File(f.path);
      const hashed = Date.now() - t1;
      if (format === 'raw') raw = f.path;
      rows.push({ round, format, writeS: made / 1000, sha256S: hashed / 1000, totalS: (made + hashed) / 1000, sizeMiB: f.size / 2 ** 20 });
      process.stderr.write(`# round ${round} ${format.padEnd(8)} write ${(made / 1000).toFixed(1).padStart(5)} s  sha256 ${(hashed / 1000).toFixed(1).padStart(5)} s  total ${((made + hashed) / 1000).toFixed(1).padStart(5)} s  ${(f.size / 2 ** 20).toFixed(1)} MiB\n`);
      if (format !== 'raw') rmSync(dir, { recursive: true, force: true });
    }
    rmSync(join(work, `${round}-raw`), { recursive: true, force: true });
    // What finalise does: all four, each hashed on a worker while the next converts.
    const dir = join(work, `${round}-all`);
    mkdirSync(dir);
    const t0 = Date.now();
    await writeFormats(['raw', 'vhd', 'vmdk', 'gce'], { qcow2: image, dir, imageName: 'bench', virtualSize: info.virtualSize });
    const s = (Date.now() - t0) / 1000;
    const sequential = rows.filter((r) => r.round === round && r.format !== 'gce-gzip').reduce((a, r) => a + r.totalS, 0);
    rows.push({ round, format: 'all-4 (finalise)', totalS: s, sequentialS: sequential });
    process.stderr.write(`# round ${round} all four as finalise writes them: ${s.toFixed(1)} s (${(s / 4).toFixed(1)} s a format) vs ${sequential.toFixed(1)} s one after another (x${(sequential / s).toFixed(2)})\n`);
    rmSync(dir, { recursive: true, force: true });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify({ image, virtualSize: info.virtualSize, load: loadavg()[0], rows }, null, 1)}\n`);
