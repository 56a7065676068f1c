// Stage 5b, finalise: compacted qcow2, streamed gzip, the other formats asked for (--format:
// raw, vhd, vmdk, gce; builder/formats.ts), .sha256 files, manifests, then publish atomically —
// everything is made in a hidden partial directory in the output directory and renamed into
// place last, the qcow2 itself last of all.
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { makeOwnedDir } from '../tools/owned-dir.js';
import { join } from 'node:path';
import { gzipFile } from '../tools/gzip.js';
import { writeChecksumFile } from '../tools/hash.js';
import { convertToQcow2, imageInfo } from '../tools/qemu-img.js';
import { formatBytes } from '../ui/format.js';
import type { Step } from '../pipeline/step.js';
import { partialDirName, type BuildContext } from './context.js';
import { writeFormats } from './formats.js';
import { assertOutputFree } from './prepare.js';
import { buildManifest, manifestText } from './manifest.js';
import { supplyFileNames, writeSupplyFiles } from '../supply/index.js';

function partialDir(ctx: BuildContext): string {
  return join(ctx.plan.outputDir, partialDirName(ctx.imageName, process.pid));
}

export function finaliseStep(stageTimes: Record<string, number>): Step<BuildContext> {
  return {
    name: 'finalise',
    title: 'Finalise (compact, gzip, checksums, manifest)',
    async run(ctx, rt) {
      if (!ctx.session.overlay) throw new Error('finalise: no disk');
      const t0 = Date.now();
      const dir = partialDir(ctx);
      // Owned: a build killed while it writes here leaves it for the next build to remove.
      await makeOwnedDir(dir);
      const qcow2Name = `${ctx.imageName}.qcow2`;
      const gzName = `${qcow2Name}.gz`;
      const qcow2 = join(dir, qcow2Name);
      const gz = join(dir, gzName);

      // zstd-compressed clusters: about a third of the size, and quick to write (QEMU >= 5.1 reads them).
      await convertToQcow2(ctx.session.overlay, qcow2, { compress: true, compressionType: 'zstd', signal: rt.signal, logFile: rt.logFile });
      const info = await imageInfo(qcow2);
      rt.info(`compacted image: ${formatBytes(info.actualSize)}`);
      await gzipFile(qcow2, gz, {
        signal: rt.signal,
        onProgress: (done, total) => rt.info(`gzip ${Math.round((100 * done) / total)}% of ${formatBytes(total)}`),
      });
      const imageSha = await writeChecksumFile(qcow2);
      const gzSha = await writeChecksumFile(gz);
      const [imageSize, gzSize] = [(await stat(qcow2)).size, (await stat(gz)).size];

      const tf = Date.now();
      const extra = (
        await writeFormats(ctx.plan.formats, {
          qcow2,
          dir,
          imageName: ctx.imageName,
          virtualSize: info.virtualSize,
          onWritten: (f) => rt.info(`${f.format}: ${f.name} (${formatBytes(f.size)}, virtual ${formatBytes(f.virtualSize)}; ${f.checked}) written in ${(f.ms / 1000).toFixed(1)} s, hashed in ${(f.hashMs / 1000).toFixed(1)} s`),
        }, { signal: rt.signal, logFile: rt.logFile })
      ).map((f) => ({ ...f, ms: f.ms + f.hashMs }));
      if (extra.length) rt.info(`${extra.length} extra format(s) in ${((Date.now() - tf) / 1000).toFixed(1)} s`);

      // SBOM + provenance beside the image (src/supply): the manifest lists them.
      await writeSupplyFiles(ctx, dir, { image: { name: qcow2Name, sha256: imageSha }, files: [{ name: qcow2Name, sha256: imageSha }, { name: gzName, sha256: gzSha }, { name: `${qcow2Name}.sha256` }, { name: `${gzName}.sha256` }, ...extra.flatMap((f) => [{ name: f.name, sha256: f.sha256 }, { name: `${f.name}.sha256` }])] });

      const times = { ...stageTimes, finalise: Date.now() - t0 };
      const manifest = buildManifest(
        ctx,
        {
          image: { name: qcow2Name, size: imageSize, sha256: imageSha, virtualSize: info.virtualSize },
          compressed: { name: gzName, size: gzSize, sha256: gzSha },
          formats: extra.map((f) => ({ format: f.format, name: f.name, size: f.size, sha256: f.sha256, virtualSize: f.virtualSize, checked: f.checked, ms: f.ms })),
        },
        times,
      );
      await writeFile(join(dir, `${ctx.imageName}.json`), `${JSON.stringify(manifest, null, 2)}\n`);
      await writeFile(join(dir, `${ctx.imageName}.manifest`), manifestText(manifest));

      // Publish: re-check (another build may have published meanwhile), sidecars first, image last.
      assertOutputFree(ctx.plan, ctx.imageName);
      const out = ctx.plan.outputDir;
      const extraNames = extra.flatMap((f) => [`${f.name}.sha256`, f.name]);
      for (const name of [`${gzName}.sha256`, gzName, ...extraNames, `${qcow2Name}.sha256`, `${ctx.imageName}.json`, `${ctx.imageName}.manifest`, ...supplyFileNames(ctx), qcow2Name]) {
        await rename(join(dir, name), join(out, name));
      }
      ctx.artifacts = {
        image: join(out, qcow2Name),
        imageSha256: imageSha,
        imageSize,
        compressed: join(out, gzName),
        compressedSha256: gzSha,
        compressedSize: gzSize,
        formats: extra.map((f) => ({ format: f.format, path: join(out, f.name), sha256: f.sha256, size: f.size })),
        manifestJson: join(out, `${ctx.imageName}.json`),
        manifestText: join(out, `${ctx.imageName}.manifest`),
      };
    },
    async cleanup(ctx) {
      await rm(partialDir(ctx), { recursive: true, force: true });
    },
  };
}
