// Generates schema/vexfs-image.schema.json (JSON Schema for vexfs-image.yaml, for editor
// completion and validation) from the zod schema in src/config/schema.ts, the single source of
// truth. A unit test fails when the committed file differs from what this script generates.
//   node --import tsx scripts/gen-schema.ts          write the file
//   node --import tsx scripts/gen-schema.ts --check  exit 1 if the file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigFileSchema } from '../src/config/schema.js';

export const SCHEMA_PATH = join(resolve(fileURLToPath(import.meta.url), '..', '..'), 'schema', 'vexfs-image.schema.json');

export const SCHEMA_ID = 'https://github.com/vexfs/vexfs-image/raw/main/schema/vexfs-image.schema.json';

export function generateSchema(): Record<string, unknown> {
  // io: 'input': what the user writes, so keys with defaults are optional in the schema.
  const body = z.toJSONSchema(ConfigFileSchema, { target: 'draft-2020-12', io: 'input' }) as Record<string, unknown>;
  const { $schema, ...rest } = body;
  return {
    $schema,
    $id: SCHEMA_ID,
    title: 'vexfs-image.yaml',
    description:
      'Configuration of vexfs-image, read from vexfs-image.yaml at the root of the source tree. ' +
      'Every key is optional; flags and the VEXFS_VERSION / IMAGE_VARIANT environment variables override it. ' +
      'Add "# yaml-language-server: $schema=<path or URL of this file>" at the top of the file for editor completion.',
    ...rest,
  };
}

export function schemaText(): string {
  return `${JSON.stringify(generateSchema(), null, 2)}\n`;
}

function main(args: string[]): number {
  const text = schemaText();
  if (args.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(SCHEMA_PATH, 'utf8');
    } catch {
      /* missing: out of date */
    }
    if (current !== text) {
      process.stderr.write(`${SCHEMA_PATH} is out of date: run node --import tsx scripts/gen-schema.ts\n`);
      return 1;
    }
    return 0;
  }
  writeFileSync(SCHEMA_PATH, text);
  process.stderr.write(`wrote ${SCHEMA_PATH}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) process.exitCode = main(process.argv.slice(2));
