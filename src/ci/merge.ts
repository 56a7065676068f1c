// `vexfs-image ci merge SHARD...`: combines the artifacts directories of a CI matrix (one
// `ci --variant X` per job) into one manifest, one checksums file and one set of reports.
// Image files present in a shard are verified against its checksums and hard-linked (or
// copied) into the merged images/; a metadata-only shard (images uploaded separately) keeps
// its checksum lines, so `sha256sum -c` works once the images are put next to them.
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, link, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { PACKAGE_VERSION } from '../paths.js';
import type { EventSink } from '../pipeline/events.js';
import { buildReport, type ImageResult, type ValidationReport } from '../report/model.js';
import { formatDuration } from '../ui/format.js';
import { collectLogs, LAYOUT, prepareArtifactsDir } from './artifacts.js';
import { readChecksums, verifyChecksums, writeChecksums, type ChecksumEntry } from './checksums.js';
import { CI_MANIFEST_SCHEMA, readManifest, recordKey, writeManifest, type CiManifest, type ImageRecord, type StageRecord } from './manifest.js';
import { buildPayload, notify as defaultNotify } from './notify.js';
import { writeReports, type ReportFiles } from './reports.js';
import { checkShardTree } from './shard-files.js';

export interface MergeOptions {
  shards: readonly string[];
  artifactsDir: string;
  force: boolean;
  /** Re-hash image files found in the shards (default true). */
  verify: boolean;
  notifyUrl?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  signal?: AbortSignal;
  emit: EventSink;
  notify?: typeof defaultNotify;
  now?(): number;
}

export interface MergeResult {
  manifest: CiManifest;
  validation: ValidationReport;
  reports: ReportFiles;
  /** Every shard passed and every file present verified (the same as manifest.ok). */
  ok: boolean;
  /** Image files listed in checksums.sha256 but absent from every shard. */
  missingFiles: string[];
}

interface Shard {
  dir: string;
  manifest: CiManifest;
  checksums: ChecksumEntry[];
  report: ValidationReport | undefined;
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

const ORDER: Record<StageRecord['status'], number> = { ok: 0, skipped: 1, failed: 2 };

/** One record per stage name: the wall-clock span over the shards, the worst status. */
export function mergeStages(shards: ReadonlyArray<{ name: string; manifest: CiManifest }>): StageRecord[] {
  const names: string[] = [];
  for (const s of shards) for (const r of s.manifest.stages) if (!names.includes(r.name)) names.push(r.name);
  return names.map((name) => {
    const rs = shards.map((s) => ({ shard: s.name, r: s.manifest.stages.find((x) => x.name === name) })).filter((x) => x.r) as Array<{ shard: string; r: StageRecord }>;
    const timed = rs.filter((x) => x.r.started_at);
    const start = timed.length ? Math.min(...timed.map((x) => Date.parse(x.r.started_at!))) : null;
    const end = timed.length ? Math.max(...timed.map((x) => Date.parse(x.r.started_at!) + x.r.duration_ms)) : null;
    const worst = rs.reduce<StageRecord['status']>((w, x) => (ORDER[x.r.status] > ORDER[w] ? x.r.status : w), 'ok');
    const status = rs.every((x) => x.r.status === 'skipped') ? 'skipped' : worst === 'skipped' ? 'ok' : worst;
    const notOk = rs.filter((x) => x.r.status !== 'ok').map((x) => `${x.shard}: ${x.r.status}${x.r.status === 'failed' ? ` (${x.r.detail})` : ''}`);
    return {
      name,
      title: rs[0]!.r.title,
      status,
      started_at: start === null ? null : new Date(start).toISOString(),
      duration_ms: start === null || end === null ? 0 : end - start,
      detail: `${rs.length} shard(s)${notOk.length ? `; ${notOk.join('; ')}` : ', all ok'}`,
    };
  });
}

async function readShard(dir: string): Promise<Shard> {
  const manifest = await readManifest(dir);
  const checksums = existsSync(join(dir, LAYOUT.checksums)) ? await readChecksums(dir) : [];
  let report: ValidationReport | undefined;
  try {
    report = JSON.parse(await readFile(join(dir, LAYOUT.reportJson), 'utf8')) as ValidationReport;
    if (!Array.isArray(report.images)) report = undefined;
  } catch {
    report = undefined;
  }
  return { dir, manifest, checksums, report };
}

export async function mergeShards(opts: MergeOptions): Promise<MergeResult> {
  const now = opts.now ?? Date.now;
  const t0 = now();
  if (opts.shards.length === 0) throw new UsageError('ci merge: name at least one shard directory');
  const dirs = opts.shards.map((d) => resolve(opts.cwd, d));
  const out = resolve(opts.cwd, opts.artifactsDir);
  if (dirs.includes(out)) throw new UsageError(`ci merge: the output directory ${out} is also a shard`, { hint: 'pass --artifacts-dir somewhere else' });

  const shards: Shard[] = [];
  for (const d of dirs) {
    if (existsSync(d)) await checkShardTree(d);
    try {
      shards.push(await readShard(d));
    } catch (e) {
      throw new UsageError(`ci merge: ${e instanceof Error ? e.message : String(e)}`, { hint: 'each shard must be the --artifacts-dir of a `vexfs-image ci` run' });
    }
  }
  // One variant and architecture, one shard; one commit and one version across the matrix.
  const owner = new Map<string, string>();
  for (const s of shards) {
    for (const i of s.manifest.images) {
      const key = recordKey(i);
      const prev = owner.get(key);
      if (prev) throw new UsageError(`ci merge: variant ${key} is in two shards: ${prev} and ${s.dir}`, { hint: 'give each matrix job its own --variant (and --arch)' });
      owner.set(key, s.dir);
    }
  }
  const distinct = (f: (m: CiManifest) => string | null): string[] => [...new Set(shards.map((s) => f(s.manifest) ?? 'unknown'))];
  if (distinct((m) => m.commit_sha).length > 1) throw new UsageError(`ci merge: the shards were built from different commits: ${shards.map((s) => `${basename(s.dir)}=${s.manifest.commit_sha}`).join(', ')}`);
  if (distinct((m) => m.vexfs_version).length > 1) throw new UsageError(`ci merge: the shards stamp different versions: ${shards.map((s) => `${basename(s.dir)}=${s.manifest.vexfs_version}`).join(', ')}`);
  const buildNumbers = distinct((m) => m.build_number);
  if (buildNumbers.length > 1) opts.emit({ type: 'warn', message: `shards have different build numbers (${buildNumbers.join(', ')}); using ${buildNumbers[0]}` });

  await prepareArtifactsDir(out, opts.force);
  opts.emit({ type: 'step-start', step: 'merge', title: `Merge ${shards.length} shard(s) into ${out}`, index: 0, total: 1 });

  const names = shards.map((s) => basename(s.dir));
  const uniqueName = (i: number): string => (names.filter((n) => n === names[i]).length > 1 ? `${names[i]}-${i + 1}` : names[i]!);
  const entries: ChecksumEntry[] = [];
  const missingFiles: string[] = [];
  const bad: string[] = [];
  const images: ImageRecord[] = [];
  const results: ImageResult[] = [];
  for (const [idx, s] of shards.entries()) {
    const shardName = uniqueName(idx);
    const fresh: ChecksumEntry[] = [];
    for (const e of s.checksums) {
      if (entries.some((x) => x.path === e.path)) {
        bad.push(`${e.path} is in more than one shard`);
        continue;
      }
      entries.push(e);
      fresh.push(e);
    }
    // Without --verify only presence is checked: a missing file is not an error (metadata-only shard).
    const problems = opts.verify ? await verifyChecksums(s.dir, fresh) : fresh.filter((e) => !existsSync(join(s.dir, e.path))).map((e) => ({ path: e.path, missing: true, message: '' }));
    for (const p of problems) {
      if (p.missing) missingFiles.push(p.path);
      else bad.push(`${shardName}/${p.message}`);
    }
    for (const e of fresh) if (!problems.some((p) => p.path === e.path)) await linkOrCopy(join(s.dir, e.path), join(out, e.path));
    for (const i of s.manifest.images) images.push({ ...i, shard: shardName });
    if (s.report) results.push(...s.report.images);
    if (existsSync(join(s.dir, LAYOUT.logs))) {
      for (const n of readdirSync(join(s.dir, LAYOUT.logs))) {
        const to = n === 'ci.log' ? join(out, LAYOUT.logs, `ci-${shardName}.log`) : join(out, LAYOUT.logs, n);
        if (n === 'ci.log') await copyFile(join(s.dir, LAYOUT.logs, n), to).catch(() => undefined);
        else await collectLogs(join(s.dir, LAYOUT.logs, n), to);
      }
    }
  }
  await writeChecksums(out, entries);
  if (missingFiles.length) opts.emit({ type: 'warn', message: `${missingFiles.length} image file(s) are listed but not in any shard (metadata-only shards): put them under ${join(out, LAYOUT.images)} before running sha256sum -c` });
  for (const b of bad) opts.emit({ type: 'warn', message: b });

  const starts = shards.map((s) => Date.parse(s.manifest.started_at));
  const ends = shards.map((s) => Date.parse(s.manifest.finished_at));
  const first = shards[0]!.manifest;
  const variants = shards.flatMap((s) => s.manifest.variants).filter((v, i, a) => a.indexOf(v) === i);
  const stages = mergeStages(shards.map((s, i) => ({ name: uniqueName(i), manifest: s.manifest })));
  const mergeMs = now() - t0;
  stages.push({
    name: 'merge',
    title: 'Merge shards',
    status: bad.length ? 'failed' : 'ok',
    started_at: new Date(t0).toISOString(),
    duration_ms: mergeMs,
    detail: bad.length ? bad.slice(0, 3).join('; ') : `${shards.length} shard(s), ${entries.length} files${missingFiles.length ? ` (${missingFiles.length} not present)` : ''}${opts.verify ? ', sha256 verified' : ''}`,
  });
  const manifest: CiManifest = {
    schema: CI_MANIFEST_SCHEMA,
    build_number: first.build_number,
    commit_sha: first.commit_sha,
    vexfs_version: first.vexfs_version,
    variants,
    tag: first.tag,
    provider: first.provider,
    ok: shards.every((s) => s.manifest.ok) && images.every((i) => i.status === 'passed') && bad.length === 0,
    started_at: new Date(Math.min(...starts)).toISOString(),
    finished_at: new Date(Math.max(...ends)).toISOString(),
    duration_ms: Math.max(...ends) - Math.min(...starts),
    jobs: shards.reduce((n, s) => n + s.manifest.jobs, 0),
    fail_fast: shards.some((s) => s.manifest.fail_fast),
    accelerator: [...new Set(shards.map((s) => s.manifest.accelerator ?? 'unknown'))].join(','),
    tool: { name: 'vexfs-image', version: PACKAGE_VERSION },
    host: [...new Set(shards.map((s) => s.manifest.host))].join(','),
    stages,
    images,
    shards: shards.map((s, i) => ({ dir: uniqueName(i), build_number: s.manifest.build_number, commit_sha: s.manifest.commit_sha, variants: s.manifest.variants, ok: s.manifest.ok, host: s.manifest.host })),
  };
  const validation = buildReport(results, {
    startedAt: new Date(manifest.started_at),
    finishedAt: new Date(manifest.finished_at),
    toolVersion: PACKAGE_VERSION,
    options: { bootTimeoutS: shards[0]?.report?.options.bootTimeoutS ?? 0, sshTimeoutS: shards[0]?.report?.options.sshTimeoutS ?? 0, jobs: manifest.jobs, accel: manifest.accelerator ?? 'unknown' },
  });
  // Shards that failed before validating anything still count: the report must not look green.
  if (images.some((i) => i.status !== 'passed')) validation.ok = false;

  const url = opts.notifyUrl ?? opts.env.VEXFS_NOTIFY_URL;
  if (url) {
    const rec = await (opts.notify ?? defaultNotify)(url, buildPayload(manifest, opts.env), { signal: opts.signal });
    manifest.notification = rec;
    stages.push({ name: 'notify', title: 'Notification', status: rec.ok ? 'ok' : 'failed', started_at: new Date(now() - rec.duration_ms).toISOString(), duration_ms: rec.duration_ms, detail: rec.ok ? `POST ${rec.url}: HTTP ${rec.status}` : `POST ${rec.url} failed: ${rec.error} (does not change the result)` });
    if (!rec.ok) opts.emit({ type: 'warn', message: `notification failed: ${rec.error} (does not change the result)` });
  }
  await writeManifest(out, manifest);
  const reports = await writeReports(out, validation, manifest);
  if (bad.length) opts.emit({ type: 'step-fail', step: 'merge', ms: now() - t0, error: new Error(bad[0]) });
  else opts.emit({ type: 'step-end', step: 'merge', ms: now() - t0 });
  opts.emit({ type: 'info', message: `merged ${shards.length} shard(s): ${images.filter((i) => i.status === 'passed').length}/${images.length} variants passed, ${formatDuration(manifest.duration_ms)} wall clock` });
  return { manifest, validation, reports, ok: manifest.ok, missingFiles };
}
