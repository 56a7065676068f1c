import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderJunit } from '../../../src/report/junit.js';
import { fixtureReport } from './fixture.js';

/** A small JUnit reader for tests: suites with their attributes and their testcases. */
type Attrs = Record<string, string>;
type Case = Attrs & { body: string; failure: boolean; error: boolean; skipped: boolean };
type Suite = Attrs & { cases: Case[] };

function parseJunit(xml: string): { root: Attrs; suites: Suite[] } {
  const attrs = (s: string): Record<string, string> => Object.fromEntries([...s.matchAll(/(\w[\w-]*)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  const root = attrs(/<testsuites\b([^>]*)>/.exec(xml)![1]!);
  const suites = [...xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g)].map((m) => {
    const cases: Case[] = [...m[2]!.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)].map((c) => ({
      ...attrs(c[1]!),
      body: c[3] ?? '',
      failure: /<failure\b/.test(c[3] ?? ''),
      error: /<error\b/.test(c[3] ?? ''),
      skipped: /<skipped\b/.test(c[3] ?? ''),
    })) as Case[];
    return { ...attrs(m[1]!), cases } as Suite;
  });
  return { root, suites };
}

test('JUnit: one testsuite per image, counts that match the testcases', () => {
  const xml = renderJunit(fixtureReport());
  const { root, suites } = parseJunit(xml);
  assert.equal(suites.length, 3);
  for (const s of suites) {
    const c = s.cases;
    assert.equal(Number(s.tests), c.length, `${s.name} tests`);
    assert.equal(Number(s.failures), c.filter((x) => x.failure).length, `${s.name} failures`);
    assert.equal(Number(s.errors), c.filter((x) => x.error).length, `${s.name} errors`);
    assert.equal(Number(s.skipped), c.filter((x) => x.skipped).length, `${s.name} skipped`);
  }
  const all = suites.flatMap((s) => s.cases);
  assert.equal(Number(root.tests), all.length);
  assert.equal(Number(root.failures), 1);
  assert.equal(Number(root.errors), 2); // kernel-log (transport) + the panicked image's boot
  assert.equal(Number(root.skipped), 1);
});

test('JUnit: variant in classname, times in seconds, boot testcase per image', () => {
  const { suites } = parseJunit(renderJunit(fixtureReport()));
  const prod = suites.find((s) => s.name === 'vexfs-production-1.0.0')!;
  const info = prod.cases.find((c) => c.name === 'module-info')!;
  assert.equal(info.classname, 'production.vexfs');
  assert.equal(info.time, '0.120');
  assert.ok(info.failure);
  const boot = prod.cases.find((c) => c.name === 'boot')!;
  assert.equal(boot.classname, 'production.boot');
  assert.equal(boot.time, '24.000');
  // A failed warning-severity check passes, with the warning in system-out.
  const warn = prod.cases.find((c) => c.name === 'vexfs-service-enabled')!;
  assert.ok(!warn.failure && !warn.error);
  assert.match(warn.body, /<system-out>WARNING/);
});

test('JUnit: boot trouble is an error with its kind, message in the element text and the serial tail', () => {
  const { suites } = parseJunit(renderJunit(fixtureReport()));
  const dev = suites.find((s) => s.name === 'vexfs-development-1.0.0')!;
  assert.equal(dev.cases.length, 1);
  const boot = dev.cases[0]!;
  assert.ok(boot.error);
  assert.match(boot.body, /<error message="kernel panic: guest boot failed[^"]*" type="kernel panic">guest boot failed: kernel panic/);
  assert.match(boot.body, /last serial console lines/);
});

test('JUnit: the failure message is in the attribute and the text; control characters are stripped; XML is escaped', () => {
  const xml = renderJunit(fixtureReport());
  assert.match(xml, /<failure message="modinfo vexfs: Module vexfs not found\." type="CheckFailed">modinfo vexfs: Module vexfs not found\./);
  assert.ok(xml.includes('&lt;&amp;&gt;'));
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(xml, /[\x00-\x08\x0b\x0c\x0e-\x1f\x1b]/);
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
  // Balanced elements.
  for (const tag of ['testsuites', 'testsuite', 'properties']) {
    assert.equal((xml.match(new RegExp(`<${tag}\\b`, 'g')) ?? []).length, (xml.match(new RegExp(`</${tag}>`, 'g')) ?? []).length, tag);
  }
});

test('JUnit: properties carry variant, version and boot times', () => {
  const xml = renderJunit(fixtureReport());
  assert.match(xml, /<property name="variant" value="minimal"\/>/);
  assert.match(xml, /<property name="ssh_ready_s" value="24.000"\/>/);
  assert.match(xml, /<property name="cloud_init_done_s" value="29.000"\/>/);
  assert.match(xml, /<testsuite name="vexfs-development-1\.0\.0"[\s\S]*?<property name="ssh_ready_s" value=""\/>/);
});
