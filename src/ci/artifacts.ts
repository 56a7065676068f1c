// The artifacts directory: its layout, preparing it, and collecting the image files and logs.
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdir, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { UsageError } from '../errors.js';
import { REPORT_FILES } from '../report/write.js';
import { sha256File } from '../tools/hash.js';
import type { BuildResult } from '../builder/index.js';
import { CHECKSUMS_FILE } from './checksums.js';
import { CI_MANIFEST_FILE, type ImageFileRecord } from './manifest.js';

export const LAYOUT = Object.freeze({
  images: 'images',
  reports: 'reports',
  logs: 'logs',
  manifest: CI_MANIFEST_FILE,
  checksums: CHECKSUMS_FILE,
  ciLog: join('logs', 'ci.log'),
  // The validation reports, named as `vexfs-image validate` names them (src/report/write.ts).
  reportJson: join('reports', REPORT_FILES.json),
  reportJunit: join('reports', REPORT_FILES.junit),
  reportMarkdown: join('reports', REPORT_FILES.md),
  reportHtml: join('reports', REPORT_FILES.html),
  // The CI's own: the validation HTML with the CI tables and timeline on top, and the summary.
  ciHtml: join('reports', 'ci-report.html'),
  summaryMarkdown: join('reports', 'ci-summary.md'),
});

/** What `ci` writes at the top of the artifacts directory (and removes with --force). */
const OWNED = ['images', 'reports', 'logs', CI_MANIFEST_FILE, CHECKSUMS_FILE];

/**
 * Creates the directory. One holding an earlier run's output is refused unless force, and then
 * only what ci itself writes is removed (never the directory, which may be `.`).
 */
export async function prepareArtifactsDir(dir: string, force: boolean): Promise<void> {
  if (existsSync(dir)) {
    const present = readdirSync(dir).filter((n) => OWNED.includes(n));
    if (present.length && !force) {
      throw new UsageError(`artifacts directory ${dir} already holds ${present.join(', ')} from an earlier run`, {
        hint: 'pass --force to replace them, or choose another --artifacts-dir',
      });
    }
    for (const n of present) await rm(join(dir, n), { recursive: true, force: true });
  }
  await mkdir(join(dir, LAYOUT.images), { recursive: true });
  await mkdir(join(dir, LAYOUT.reports), { recursive: true });
  await mkdir(join(dir, LAYOUT.logs), { recursive: true });
}

export function relPath(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}

/**
 * The files of one built image in the images directory (vexfs-<variant>-<version>.*), with sizes
 * and digests; the two big digests come from the build instead of being computed again.
 */
export async function imageFiles(root: string, imagesDir: string, name: string, build?: BuildResult): Promise<ImageFileRecord[]> {
  if (!existsSync(imagesDir)) return [];
  const known = new Map<string, string>();
  if (build) {
    known.set(build.artifacts.image, build.artifacts.imageSha256);
    known.set(build.artifacts.compressed, build.artifacts.compressedSha256);
    for (const f of build.artifacts.formats ?? []) known.set(f.path, f.sha256);
  }
  const out: ImageFileRecord[] = [];
  for (const f of readdirSync(imagesDir).sort()) {
    if (!f.startsWith(`${name}.`) || f.startsWith('.')) continue;
    const p = join(imagesDir, f);
    const st = await stat(p);
    if (!st.isFile()) continue;
    out.push({ name: f, path: relPath(root, p), size: st.size, sha256: known.get(p) ?? (await sha256File(p)) });
  }
  return out;
}

/** Copies a log directory into the artifacts (best effort: a missing log is not an error). */
export async function collectLogs(from: string | undefined, to: string): Promise<boolean> {
  if (!from || !existsSync(from)) return false;
  await mkdir(to, { recursive: true });
  await cp(from, to, { recursive: true, force: true }).catch(() => undefined);
  return true;
}
