// The payload as data for guest/build/build-payload.sh: one tab-separated record a line. Data,
// not generated bash: the script reads it with `read`, nothing in it is evaluated except the
// build, install and version commands, which are the project's own commands by design.
import { renderTemplate } from './user-data.js';
import type { Payload } from '../config/payload-types.js';

function record(...fields: string[]): string {
  for (const f of fields) if (/[\t\n\r]/.test(f)) throw new Error(`payload spec: a field holds a tab or newline: ${JSON.stringify(f)}`);
  return fields.join('\t');
}

/** {{version}} in a tool's expected version line is the image's version. */
export function payloadSpec(p: Payload, version: string): string {
  const lines = [record('dir', p.buildDirectory), record('command', p.buildCommand)];
  for (const [k, v] of Object.entries(p.env)) lines.push(record('env', k, v));
  if (p.installCommand) lines.push(record('install', p.installCommand));
  for (const m of p.modules) lines.push(record('module', m.name, m.path, m.installDir));
  for (const t of p.tools) {
    const v = t.version ? [t.version.command, renderTemplate(t.version.expect.replace(/\{\{\s*(\w+)\s*\}\}/g, '{{$1}}'), { version })] : [];
    lines.push(record('tool', t.name, t.path, t.installPath, t.required ? '1' : '0', ...v));
  }
  for (const f of p.files) lines.push(record('file', f.path));
  return `${lines.join('\n')}\n`;
}
