// A --base / --distro spec checked before anything starts: what parseBaseSpec refuses, and for a
// local image the path problems found without running anything (missing, not a file, QEMU
// option syntax). Its backing chain is judged later by checkImageChain, which runs qemu-img.
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { qemuPathProblem } from '../tools/qemu-img.js';
import { parseBaseSpec, type BaseSource, type ParseOptions } from './presets.js';

export function checkBaseSpec(spec: string, opts: ParseOptions & { cwd?: string; from?: string } = {}): BaseSource {
  const src = parseBaseSpec(spec, opts);
  if (src.kind !== 'local') return src;
  const abs = resolve(opts.cwd ?? process.cwd(), src.path);
  const problem = qemuPathProblem(abs);
  if (problem) throw new UsageError(`base image ${src.path} cannot be given to QEMU because ${problem}; rename or move the file.`);
  let real: string;
  try {
    real = realpathSync(abs);
  } catch {
    throw new UsageError(`base image ${src.path} does not exist`, { hint: 'give a path to a qcow2 or raw disk image, or a preset such as debian-13' });
  }
  if (!statSync(real).isFile()) throw new UsageError(`base image ${src.path} is not a regular file; give a path to a qcow2 or raw disk image.`);
  const realProblem = qemuPathProblem(real);
  if (realProblem) throw new UsageError(`base image ${src.path} is ${real}, which cannot be given to QEMU because ${realProblem}; move the file.`);
  return { kind: 'local', path: real };
}
