// Stage 4d (only with `signing:` in the config): sign the installed modules in the build VM with
// the image kernel's own sign-file (guest/build/sign-modules.sh), check the signer, and record
// the signed files' new digests for the manifest and the SBOM.
import type { Step } from '../pipeline/step.js';
import { GuestError } from '../errors.js';
import { shellQuote } from '../tools/ssh.js';
import { generatedSigner, IMAGE_CERTIFICATE_FILE, IMAGE_SIGNER_FILE, signingMaterial } from '../supply/signing.js';
import type { BuildContext, InstalledArtifact } from './context.js';
import { numberedResults, runGuestScript } from './guest-run.js';

export interface SignedModule {
  name: string;
  path: string;
  sha256: string;
  keyId: string;
}

export interface SigningFacts {
  signer: string;
  generated: boolean;
  certificatePem: string;
  modules: SignedModule[];
}

/** `result.signed_N=NAME<TAB>PATH<TAB>SIZE<TAB>SHA256<TAB>KEY_ID` lines, in order. */
export function parseSigned(results: Record<string, string>): Array<SignedModule & { size: number }> {
  return numberedResults(results, 'signed').map(([name = '', path = '', size = '0', sha256 = '', keyId = '']) => ({ name, path, size: Number(size), sha256, keyId }));
}

/** The artifacts with each signed module's new size and digest (signing appends to the file). */
export function withSigned(artifacts: readonly InstalledArtifact[], signed: ReadonlyArray<{ path: string; size: number; sha256: string }>): InstalledArtifact[] {
  return artifacts.map((a) => {
    const s = a.kind === 'module' ? signed.find((x) => x.path === a.path) : undefined;
    return s ? { ...a, size: s.size, sha256: s.sha256 } : a;
  });
}

export const signModulesStep: Step<BuildContext> = {
  name: 'sign-modules',
  title: 'Sign the modules (the image kernel\'s sign-file)',
  skip: (ctx) => (ctx.plan.signing ? undefined : 'no signing in the config'),
  async run(ctx, rt) {
    const plan = ctx.plan.signing;
    const ssh = ctx.session.ssh;
    if (!plan || !ssh) throw new Error('sign-modules: no signing plan or SSH target');
    const modules = (ctx.guest.artifacts ?? []).filter((a) => a.kind === 'module');
    if (!modules.length) throw new GuestError('signing is configured, but the build installed no module to sign');
    const material = plan.mode === 'given' ? signingMaterial(plan) : undefined;
    const signer = material?.signer ?? generatedSigner(ctx.imageName);
    const prelude = material ? `VEXFS_SIGNING_KEY=${shellQuote(material.keyPem)}\nVEXFS_SIGNING_CERT=${shellQuote(material.certificatePem)}` : undefined;
    const r = await runGuestScript(ssh, 'sign-modules.sh', [plan.mode, signer, IMAGE_SIGNER_FILE, IMAGE_CERTIFICATE_FILE, ...modules.map((m) => `${m.name}=${m.path}`)], rt, {
      timeoutMs: 300_000,
      what: 'signing the modules',
      ...(prelude ? { prelude } : {}),
    });
    const signed = parseSigned(r.results);
    const unsigned = modules.filter((m) => !signed.some((s) => s.path === m.path));
    if (unsigned.length || !r.results.certificate_b64) throw new GuestError(`sign-modules.sh did not report ${unsigned.length ? unsigned.map((m) => m.path).join(', ') : 'the certificate'} as signed`);
    ctx.guest.artifacts = withSigned(ctx.guest.artifacts ?? [], signed);
    const first = signed.find((s) => s.name === modules[0]!.name);
    if (first) ctx.guest.moduleSha256 = first.sha256;
    ctx.signing = {
      signer,
      generated: plan.mode === 'generate',
      certificatePem: Buffer.from(r.results.certificate_b64, 'base64').toString('utf8'),
      modules: signed.map(({ name, path, sha256, keyId }) => ({ name, path, sha256, keyId })),
    };
    rt.info(`signed ${signed.map((s) => `${s.name}.ko`).join(', ')}: signer "${signer}"${plan.mode === 'generate' ? ' (a key made in the VM for this build)' : ''}`);
  },
};
