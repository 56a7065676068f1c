import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generateSchema, SCHEMA_PATH, schemaText } from '../../../scripts/gen-schema.js';
import { ConfigFileSchema, VariantSchema } from '../../../src/config/schema.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';

test('the committed schema/vexfs-image.schema.json is what scripts/gen-schema.ts generates', () => {
  const committed = readFileSync(SCHEMA_PATH, 'utf8');
  assert.equal(committed, schemaText(), 'out of date: run `node --import tsx scripts/gen-schema.ts`');
});

test('gen-schema --check agrees (exit 0)', { timeout: 30_000 }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/gen-schema.ts', '--check'], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('the schema has a title, a description, draft 2020-12, and every config key with no extras allowed', () => {
  const s = generateSchema() as {
    $schema: string;
    title: string;
    description: string;
    properties: Record<string, { additionalProperties?: { properties: Record<string, unknown>; additionalProperties: boolean } }>;
    additionalProperties: boolean;
  };
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(s.title, 'vexfs-image.yaml');
  assert.match(s.description, /VEXFS_VERSION/);
  assert.deepEqual(Object.keys(s.properties).sort(), Object.keys(ConfigFileSchema.shape).sort());
  assert.equal(s.additionalProperties, false);
  const variant = s.properties.variants!.additionalProperties!;
  assert.deepEqual(Object.keys(variant.properties).sort(), Object.keys(VariantSchema.shape).sort());
  assert.equal(variant.additionalProperties, false);
});
