// build-manifest.json: the spec's build_number, commit_sha, vexfs_version and variants, plus per
// image its files (size, sha256), build and validation results, stage durations and timeline.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckSummary } from '../report/model.js';
import { archFileStem, DEFAULT_ARCH, type Arch } from '../arch.js';

/** A record's key in a run and across merged shards: the variant, with -arm64 for arm64. */
export const recordKey = (r: Pick<ImageRecord, 'variant' | 'architecture'>): string => archFileStem(r.variant, r.architecture ?? DEFAULT_ARCH);

export const CI_MANIFEST_FILE = 'build-manifest.json';
export const CI_MANIFEST_SCHEMA = 'vexfs-image/ci-manifest@1';

export type StageStatus = 'ok' | 'failed' | 'skipped';

export interface StageRecord {
  /** environment, pre-build, build, validate, artifacts, report, notify (merge: merge). */
  name: string;
  title: string;
  status: StageStatus;
  started_at: string | null;
  duration_ms: number;
  /** One line: what the stage did or why it failed / was skipped. */
  detail: string;
}

/** One step of a variant's build or validation, for the timeline chart. */
export interface TimelineSpan {
  phase: 'build' | 'validate';
  step: string;
  start: string;
  duration_ms: number;
  status: 'ok' | 'failed' | 'skipped';
}

export interface ImageFileRecord {
  name: string;
  /** Relative to the artifacts directory, as in checksums.sha256. */
  path: string;
  size: number;
  sha256: string;
}

/** passed: built and validated. cancelled: stopped by --fail-fast or an interrupt. */
export type VariantStatus = 'passed' | 'build-failed' | 'validation-failed' | 'cancelled';

export interface ImageRecord {
  variant: string;
  /** The image's architecture (absent in shards from before it was recorded: amd64). */
  architecture?: Arch;
  /** vexfs-<variant>-<version>, with -arm64 for arm64 */
  name: string;
  version: string;
  status: VariantStatus;
  build: { status: 'ok' | 'failed' | 'cancelled' | 'not-run'; started_at: string | null; duration_ms: number | null; error?: string };
  validation: {
    status: 'passed' | 'failed' | 'error' | 'cancelled' | 'not-run';
    started_at: string | null;
    duration_ms: number | null;
    summary?: CheckSummary;
    error?: string;
  };
  files: ImageFileRecord[];
  stage_durations_ms: { build: Record<string, number>; validate: Record<string, number> };
  timeline: TimelineSpan[];
  /** Relative path of this variant's logs in the artifacts directory. */
  logs: string | null;
  /** After `ci merge`: the shard directory this image came from. */
  shard?: string;
}

export interface NotificationRecord {
  url: string;
  ok: boolean;
  status: number | null;
  error?: string;
  duration_ms: number;
}

export interface CiManifest {
  schema: typeof CI_MANIFEST_SCHEMA;
  build_number: string;
  commit_sha: string | null;
  vexfs_version: string;
  variants: string[];
  tag: string | null;
  provider: string;
  /** true when every variant was built and validated (the exit code is 0). */
  ok: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  jobs: number;
  fail_fast: boolean;
  accelerator: string | null;
  tool: { name: 'vexfs-image'; version: string };
  host: string;
  stages: StageRecord[];
  images: ImageRecord[];
  notification?: NotificationRecord;
  /** After `ci merge`: the shards combined. */
  shards?: Array<{ dir: string; build_number: string; commit_sha: string | null; variants: string[]; ok: boolean; host: string }>;
}

export async function writeManifest(dir: string, m: CiManifest): Promise<string> {
  const file = join(dir, CI_MANIFEST_FILE);
  await writeFile(file, `${JSON.stringify(m, null, 2)}\n`);
  return file;
}

/** Reads and sanity-checks a shard's manifest (throws naming the file and what is wrong). */
export async function readManifest(dir: string): Promise<CiManifest> {
  const file = join(dir, CI_MANIFEST_FILE);
  let m: unknown;
  try {
    m = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (is this a `vexfs-image ci` artifacts directory?)' : `not JSON: ${String(e)}`}`);
  }
  const o = m as Partial<CiManifest>;
  if (o.schema !== CI_MANIFEST_SCHEMA) throw new Error(`${file}: schema is ${JSON.stringify(o.schema)}, expected ${CI_MANIFEST_SCHEMA}`);
  if (!Array.isArray(o.images) || !Array.isArray(o.variants) || !Array.isArray(o.stages)) throw new Error(`${file}: images, variants or stages missing`);
  return o as CiManifest;
}
