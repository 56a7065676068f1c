// JUnit XML: one <testsuite> per image (the variant in each testcase's classname), one
// <testcase> per check with its time. A failed error-severity check is a <failure>; a check or
// image that could not run (boot, SSH trouble) is an <error>; a skipped check is <skipped>. A
// failed warning-severity check passes (as the exit code does) and says so in <system-out>.
// Each image also gets a "boot" testcase (time: power-on to SSH-ready).
import { rowName, type CheckResult, type ImageResult, type ValidationReport } from './model.js';
import { escapeMarkup, xmlAttr } from './xml.js';

function seconds(ms: number | null | undefined): string {
  return ((ms ?? 0) / 1000).toFixed(3);
}

function timestamp(iso: string): string {
  return iso.slice(0, 19);
}

interface Case {
  name: string;
  classname: string;
  timeMs: number;
  kind: 'pass' | 'failure' | 'error' | 'skipped';
  message?: string;
  type?: string;
  body?: string;
  systemOut?: string;
}

/** The classname's prefix: the variant, and the VM profile in a matrix run (minimal.uefi-nvme-512m-2cpu.boot). */
function classBase(img: ImageResult): string {
  return img.profile ? `${img.variant}.${img.profile}` : img.variant;
}

function checkCase(img: ImageResult, c: CheckResult): Case {
  const classname = `${classBase(img)}.${c.group}`;
  const body = [c.message, c.command ? `\n$ ${c.command}` : '', c.output ? `\n${c.output}` : ''].join('');
  switch (c.status) {
    case 'passed':
      return { name: c.id, classname, timeMs: c.durationMs, kind: 'pass' };
    case 'skipped':
      return { name: c.id, classname, timeMs: 0, kind: 'skipped', message: c.message };
    case 'error':
      return { name: c.id, classname, timeMs: c.durationMs, kind: 'error', message: c.message, type: 'GuestError', body };
    case 'failed':
      return c.severity === 'error'
        ? { name: c.id, classname, timeMs: c.durationMs, kind: 'failure', message: c.message, type: 'CheckFailed', body }
        : { name: c.id, classname, timeMs: c.durationMs, kind: 'pass', systemOut: `WARNING (severity warning, does not fail the image): ${body}` };
  }
}

function imageCases(img: ImageResult): Case[] {
  const cases: Case[] = [];
  const e = img.error;
  const bootBroke = e !== undefined && ['inspect', 'overlay', 'seed', 'boot', 'wait-ssh', 'wait-cloud-init', 'workspace', 'unknown'].includes(e.step);
  cases.push(
    bootBroke
      ? {
          name: 'boot',
          classname: `${classBase(img)}.boot`,
          timeMs: img.timings.totalMs,
          kind: 'error',
          message: `${e.kind}: ${e.message.split('\n')[0]}`,
          type: e.kind,
          body: `${e.message}${e.serialTail ? `\n--- last serial console lines ---\n${e.serialTail}` : ''}`,
        }
      : {
          name: 'boot',
          classname: `${classBase(img)}.boot`,
          timeMs: img.timings.sshReadyMs ?? 0,
          kind: 'pass',
          systemOut: `SSH ready ${seconds(img.timings.sshReadyMs)} s, cloud-init ${img.cloudInit?.status ?? 'unknown'} ${seconds(img.timings.cloudInitDoneMs)} s after power-on`,
        },
  );
  for (const c of img.checks) cases.push(checkCase(img, c));
  if (e && !bootBroke) {
    cases.push({
      name: e.step === 'checksum' ? 'image-unchanged' : `image-${e.step}`,
      classname: `${classBase(img)}.image`,
      timeMs: 0,
      kind: 'error',
      message: `${e.kind}: ${e.message.split('\n')[0]}`,
      type: e.kind,
      body: `${e.message}${e.serialTail ? `\n--- last serial console lines ---\n${e.serialTail}` : ''}`,
    });
  }
  return cases;
}

function renderCase(c: Case): string {
  const open = `    <testcase name="${xmlAttr(c.name)}" classname="${xmlAttr(c.classname)}" time="${seconds(c.timeMs)}"`;
  const inner: string[] = [];
  if (c.kind === 'failure' || c.kind === 'error') {
    inner.push(`      <${c.kind} message="${xmlAttr(c.message ?? '')}" type="${xmlAttr(c.type ?? c.kind)}">${escapeMarkup(c.body ?? c.message ?? '')}</${c.kind}>`);
  } else if (c.kind === 'skipped') {
    inner.push(`      <skipped message="${xmlAttr(c.message ?? '')}"/>`);
  }
  if (c.systemOut) inner.push(`      <system-out>${escapeMarkup(c.systemOut)}</system-out>`);
  return inner.length ? `${open}>\n${inner.join('\n')}\n    </testcase>` : `${open}/>`;
}

function counts(cases: Case[]): { tests: number; failures: number; errors: number; skipped: number } {
  return {
    tests: cases.length,
    failures: cases.filter((c) => c.kind === 'failure').length,
    errors: cases.filter((c) => c.kind === 'error').length,
    skipped: cases.filter((c) => c.kind === 'skipped').length,
  };
}

export function renderJunit(report: ValidationReport): string {
  const suites: string[] = [];
  const total = { tests: 0, failures: 0, errors: 0, skipped: 0 };
  for (const img of report.images) {
    const cases = imageCases(img);
    const n = counts(cases);
    for (const k of Object.keys(total) as Array<keyof typeof total>) total[k] += n[k];
    const props = [
      ['image', img.path],
      ['variant', img.variant],
      ['version', img.version],
      ...(img.architecture ? [['architecture', img.architecture]] : []),
      ['accel', img.accel],
      ...(img.profile ? [['profile', img.profile]] : []),
      ['status', img.status],
      // Empty when it never happened (no boot, no SSH).
      ['ssh_ready_s', img.timings.sshReadyMs === null ? '' : seconds(img.timings.sshReadyMs)],
      ['cloud_init_done_s', img.timings.cloudInitDoneMs === null ? '' : seconds(img.timings.cloudInitDoneMs)],
      ['cloud_init_status', img.cloudInit?.status ?? 'unknown'],
      ...(img.sha256 ? [['sha256', img.sha256.after]] : []),
    ]
      .map(([k, v]) => `      <property name="${xmlAttr(k!)}" value="${xmlAttr(v!)}"/>`)
      .join('\n');
    suites.push(
      `  <testsuite name="${xmlAttr(rowName(img))}" tests="${n.tests}" failures="${n.failures}" errors="${n.errors}" skipped="${n.skipped}" time="${seconds(img.timings.totalMs)}" timestamp="${timestamp(img.startedAt)}" hostname="localhost">\n` +
        `    <properties>\n${props}\n    </properties>\n` +
        `${cases.map(renderCase).join('\n')}\n` +
        `  </testsuite>`,
    );
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="vexfs-image validate" tests="${total.tests}" failures="${total.failures}" errors="${total.errors}" skipped="${total.skipped}" time="${seconds(report.durationMs)}" timestamp="${timestamp(report.startedAt)}">\n` +
    `${suites.join('\n')}\n` +
    `</testsuites>\n`
  );
}
