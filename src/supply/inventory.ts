// What the SBOM says is in the image, read in the build VM over SSH while it still runs (no
// extra boot, no host-side image conversion: converting a finished image to raw for debugfs
// costs 3-8 s, over the 5 s budget for SBOM + provenance; the dpkg database read here is the
// same file that ships, as nothing after the variant step runs dpkg: golden cleanup only cleans
// apt's caches).
//   licencesStep, before the variant: minimal images drop /usr/share/doc, so the DEP-5
//     copyright files are read while they are still there.
//   packagesStep, after the variant, before golden cleanup (which takes the build user's SSH
//     access away): /var/lib/dpkg/status as it ships.
import { sshExec } from '../tools/ssh.js';
import type { Step } from '../pipeline/step.js';
import type { BuildContext } from '../builder/context.js';
import type { SupplyRecord } from './index.js';

export interface SupplyFacts {
  /** /var/lib/dpkg/status of the finished image, verbatim. */
  dpkgStatus?: string;
  /** Package (doc directory) name -> the License: names of its DEP-5 copyright file. */
  licences?: Record<string, string[]>;
  /** Set by finalise once the files are written: what the manifest lists. */
  record?: SupplyRecord;
}

// One awk over every copyright file (a loop of sed per package forks hundreds of processes, which
// costs seconds under TCG); only machine-readable (DEP-5) files, whose first line is "Format: ...".
export const LICENCES_COMMAND = "awk 'FNR == 1 { dep5 = /^Format:/; print \"=== \" FILENAME } dep5 && /^License:/' /usr/share/doc/*/copyright 2>/dev/null || true";

export function parseLicenceListing(stdout: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let cur: string[] | undefined;
  for (const line of stdout.split('\n')) {
    // "=== /usr/share/doc/PACKAGE/copyright"
    const head = /^=== (?:\/usr\/share\/doc\/)?([^/\s]+)(?:\/copyright)?$/.exec(line);
    if (head) {
      cur = out[head[1]!] = [];
      continue;
    }
    const lic = /^License:[ \t]*(\S.*)$/.exec(line);
    if (lic && cur && !cur.includes(lic[1]!.trim())) cur.push(lic[1]!.trim());
  }
  for (const k of Object.keys(out)) if (!out[k]!.length) delete out[k];
  return out;
}

export const licencesStep: Step<BuildContext> = {
  name: 'sbom-licences',
  title: 'Read package licences (SBOM)',
  async run(ctx, rt) {
    if (!ctx.session.ssh) throw new Error('sbom-licences: no SSH target');
    const r = await sshExec(ctx.session.ssh, LICENCES_COMMAND, { signal: rt.signal, timeoutMs: 120_000 });
    ctx.supply = { ...ctx.supply, licences: parseLicenceListing(r.stdout) };
    rt.info(`licences of ${Object.keys(ctx.supply.licences ?? {}).length} packages (DEP-5 copyright files)`);
  },
};

export const packagesStep: Step<BuildContext> = {
  name: 'sbom-packages',
  title: 'Read the package database (SBOM)',
  async run(ctx, rt) {
    if (!ctx.session.ssh) throw new Error('sbom-packages: no SSH target');
    const r = await sshExec(ctx.session.ssh, 'cat /var/lib/dpkg/status', { signal: rt.signal, timeoutMs: 120_000 });
    if (!/^Package: /m.test(r.stdout)) throw new Error('sbom-packages: /var/lib/dpkg/status in the VM lists no package');
    ctx.supply = { ...ctx.supply, dpkgStatus: r.stdout };
  },
};
