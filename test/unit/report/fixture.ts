// A realistic ValidationReport for the report-writer tests: one passing image, one with failed
// checks (error and warning severities, a skipped check), one that did not boot.
import { buildReport, summarizeChecks, imageStatus, type CheckResult, type ImageResult, type ValidationReport } from '../../../src/report/model.js';

export function check(id: string, status: CheckResult['status'], extra: Partial<CheckResult> = {}): CheckResult {
  return {
    id,
    description: `${id} description`,
    group: 'vexfs',
    type: 'command',
    severity: 'error',
    status,
    message: status === 'passed' ? 'ok' : `${id} went wrong`,
    durationMs: 120,
    attempts: status === 'skipped' ? 0 : 1,
    command: `echo ${id}`,
    ...extra,
  };
}

export function image(name: string, variant: string, checks: CheckResult[], extra: Partial<ImageResult> = {}): ImageResult {
  const error = extra.error;
  return {
    name,
    path: `/images/${name}.qcow2`,
    variant,
    version: '1.0.0',
    identitySource: 'filename',
    status: imageStatus(checks, error),
    accel: 'tcg',
    startedAt: '2026-01-02T03:04:05.678Z',
    timings: { sshReadyMs: 24_000, cloudInitDoneMs: 29_000, checksMs: 11_000, totalMs: 45_000, steps: [] },
    cloudInit: { status: 'done' },
    checks,
    summary: summarizeChecks(checks),
    ...extra,
  };
}

export function fixtureReport(): ValidationReport {
  const good = image('vexfs-minimal-1.0.0', 'minimal', [check('module-info', 'passed'), check('module-load', 'passed'), check('uname', 'passed', { group: 'system' })]);
  const bad = image('vexfs-production-1.0.0', 'production', [
    check('module-info', 'failed', { message: 'modinfo vexfs: Module vexfs not found.', output: 'modinfo: ERROR: Module vexfs not found.\x1b[0m\x07 <&>' }),
    check('module-load', 'skipped', { message: 'needs module-info (module-info failed)' }),
    check('vexfs-service-enabled', 'failed', { severity: 'warning', message: 'vexfs.service is disabled (expected enabled)' }),
    check('uname', 'passed', { group: 'system' }),
    check('kernel-log', 'error', { message: 'could not run: ssh failed', group: 'system' }),
  ]);
  const dead = image('vexfs-development-1.0.0', 'development', [], {
    error: { kind: 'kernel panic', step: 'wait-ssh', message: 'guest boot failed: kernel panic (Kernel panic - not syncing: VFS: Unable to mount root fs)', serialTail: 'line 1\n[    2.0] Kernel panic - not syncing: VFS: Unable to mount root fs\x00' },
    timings: { sshReadyMs: null, cloudInitDoneMs: null, checksMs: null, totalMs: 9_000, steps: [] },
    cloudInit: null,
  });
  return buildReport([good, bad, dead], {
    startedAt: new Date('2026-01-02T03:04:05Z'),
    finishedAt: new Date('2026-01-02T03:06:05Z'),
    toolVersion: '0.1.0',
    options: { bootTimeoutS: 300, sshTimeoutS: 60, jobs: 1, accel: 'tcg' },
  });
}
