// An up-to-date image asked for formats it was not published with (`build --format vhd` after a
// plain build): only those are written, from the published qcow2 (~15 s a format) instead of a
// rebuild (~4 min), and the manifest and the provenance gain them. The image and every file it
// was published with stay as they are; the new files are made in a hidden partial directory and
// renamed in, the provenance and the manifests last, so a run killed half-way leaves the image
// as it was (at worst with a finished format file its manifest does not list yet).
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Of } from '../tools/hash.js';
import { makeOwnedDir, removeOrphans } from '../tools/owned-dir.js';
import { IMAGE_FORMATS, writeFormats, type ImageFormat, type WrittenFormat } from './formats.js';
import { isPartialDirName, partialDirName, type Artifacts } from './context.js';
import { manifestText, type ImageManifest } from './manifest.js';
import { lockBuild } from './prepare.js';

type ManifestFormat = NonNullable<ImageManifest['files']['formats']>[number];

/**
 * The asked-for formats (qcow2 aside) that are not published: not in the manifest, or listed but
 * their file is gone or of another size (the same cheap check as the image's own). IMAGE_FORMATS order.
 */
export async function missingFormats(outputDir: string, m: Pick<ImageManifest, 'files'>, asked: readonly ImageFormat[]): Promise<ImageFormat[]> {
  const missing: ImageFormat[] = [];
  for (const format of asked) {
    if (format === 'qcow2') continue;
    const f = m.files.formats?.find((x) => x.format === format);
    const st = f && (await stat(join(outputDir, f.name)).catch(() => undefined));
    if (!f || !st || st.size !== f.size) missing.push(format);
  }
  return missing;
}

/** Every published format, old and new, in IMAGE_FORMATS order (as a build that asked for all of them lists them). */
export function mergedFormats(old: readonly ManifestFormat[], added: readonly WrittenFormat[]): ManifestFormat[] {
  const redone = new Set<string>(added.map((f) => f.format));
  const all = [...old.filter((f) => !redone.has(f.format)), ...added.map((f) => ({ format: f.format, name: f.name, size: f.size, sha256: f.sha256, virtual_size: f.virtualSize, checked: f.checked, ms: f.ms + f.hashMs }))];
  const rank = (f: ManifestFormat): number => IMAGE_FORMATS.indexOf(f.format as ImageFormat);
  return all.sort((a, b) => rank(a) - rank(b));
}

interface Subject {
  name: string;
  digest: { sha256: string };
}

/** The provenance statement with the new files as subjects too (sorted by name, as provenanceStatement writes them). */
export function withSubjects(statement: { subject?: Subject[] }, files: ReadonlyArray<{ name: string; sha256: string }>): { subject: Subject[] } {
  if (!Array.isArray(statement.subject)) throw new Error('the provenance has no subject list');
  const names = new Set(files.map((f) => f.name));
  const subject = [...statement.subject.filter((s) => !names.has(s.name)), ...files.map((f) => ({ name: f.name, digest: { sha256: f.sha256 } }))];
  return { ...statement, subject: subject.sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

export interface AddFormatsInput {
  outputDir: string;
  /** The build's own lock (builder/prepare.ts): neither a build of this variant nor another format run beside this one. */
  lockFile: string;
  variantName: string;
  imageName: string;
  manifestPath: string;
  formats: readonly ImageFormat[];
  signal: AbortSignal;
  onInfo?: (msg: string) => void;
}

/** Writes the missing formats beside the published image; returns their artifacts and the manifest's new format list. */
export async function addFormats(i: AddFormatsInput): Promise<{ formats: NonNullable<Artifacts['formats']>; ms: number }> {
  const t0 = Date.now();
  const lock = await lockBuild(i.lockFile, i.variantName, `add formats to ${i.imageName}`);
  const dir = join(i.outputDir, partialDirName(i.imageName, process.pid));
  try {
    await removeOrphans(i.outputDir, isPartialDirName);
    // Read under the lock: a run that finished meanwhile may have added some of them already.
    const m = JSON.parse(await readFile(i.manifestPath, 'utf8')) as ImageManifest;
    const missing = await missingFormats(i.outputDir, m, i.formats);
    if (!missing.length) return { formats: published(i.outputDir, m.files.formats ?? []), ms: Date.now() - t0 };
    await makeOwnedDir(dir);
    const written = await writeFormats(missing, {
      qcow2: join(i.outputDir, m.files.image.name),
      dir,
      imageName: i.imageName,
      virtualSize: m.files.image.virtual_size,
      onWritten: (f) => i.onInfo?.(`${f.format}: ${f.name} written in ${(f.ms / 1000).toFixed(1)} s, hashed in ${(f.hashMs / 1000).toFixed(1)} s`),
    }, { signal: i.signal });
    const formats = mergedFormats(m.files.formats ?? [], written);
    const next: ImageManifest = { ...m, files: { ...m.files, formats } };
    const moved = written.flatMap((f) => [`${f.name}.sha256`, f.name]);
    if (m.supply?.provenance) {
      const provPath = join(i.outputDir, m.supply.provenance.name);
      const subjects = await Promise.all(
        written.flatMap((f) => [
          Promise.resolve({ name: f.name, sha256: f.sha256 }),
          readFile(join(dir, `${f.name}.sha256`), 'utf8').then((t) => ({ name: `${f.name}.sha256`, sha256: sha256Of(t) })),
        ]),
      );
      const text = `${JSON.stringify(withSubjects(JSON.parse(await readFile(provPath, 'utf8')) as { subject?: Subject[] }, subjects), null, 2)}\n`;
      await writeFile(join(dir, m.supply.provenance.name), text);
      next.supply = { ...m.supply, provenance: { name: m.supply.provenance.name, sha256: sha256Of(text) } };
      moved.push(m.supply.provenance.name);
    }
    await writeFile(join(dir, `${i.imageName}.json`), `${JSON.stringify(next, null, 2)}\n`);
    await writeFile(join(dir, `${i.imageName}.manifest`), manifestText(next));
    // Format files first, then what names them: a kill between two renames leaves no manifest naming a missing file.
    for (const name of [...moved, `${i.imageName}.json`, `${i.imageName}.manifest`]) await rename(join(dir, name), join(i.outputDir, name));
    return { formats: published(i.outputDir, formats), ms: Date.now() - t0 };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await lock.release();
  }
}

/** The artifacts' view of the manifest's formats. */
export function published(outputDir: string, formats: readonly ManifestFormat[]): NonNullable<Artifacts['formats']> {
  return formats.map((f) => ({ format: f.format, path: join(outputDir, f.name), sha256: f.sha256, size: f.size }));
}
