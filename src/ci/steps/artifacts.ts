// CI stage 5: the image files with their digests, checksums.sha256, the logs, build-manifest.json.
// Runs whatever happened before, so a failed run still leaves its evidence.
import { join } from 'node:path';
import type { Step } from '../../pipeline/step.js';
import { collectLogs, imageFiles, LAYOUT, relPath } from '../artifacts.js';
import { writeChecksums } from '../checksums.js';
import { finishManifest, type CiContext } from '../context.js';
import { recordKey, writeManifest } from '../manifest.js';
import { STAGE_TITLES } from '../stages.js';

export const artifactsStep: Step<CiContext> = {
  name: 'artifacts',
  title: STAGE_TITLES.artifacts!,
  async run(ctx) {
    const { root } = ctx;
    const imagesDir = join(root, LAYOUT.images);
    for (const r of ctx.records.values()) {
      const o = ctx.outcomes.get(recordKey(r));
      r.files = await imageFiles(root, imagesDir, r.name, o?.build);
      const logs = join(root, LAYOUT.logs, recordKey(r));
      const copied = await collectLogs(o?.buildLogDir, join(logs, 'build'));
      r.logs = copied || r.validation.status !== 'not-run' ? relPath(root, logs) : null;
    }
    const files = [...ctx.records.values()].flatMap((r) => r.files);
    const entries = files.map((f) => ({ path: f.path, sha256: f.sha256 }));
    await writeChecksums(root, entries);
    await writeManifest(root, finishManifest(ctx));
    const bytes = files.reduce((n, f) => n + f.size, 0);
    ctx.stages.describe('artifacts', { detail: `${entries.length} files (${(bytes / 2 ** 20).toFixed(0)} MiB) in ${LAYOUT.images}/, ${LAYOUT.checksums}, ${LAYOUT.manifest}` });
  },
};
