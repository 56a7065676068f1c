// Module signing (issue 18): every declared module is signed in the build VM with the image
// kernel's own scripts/sign-file (as DKMS does), with a key and certificate the config names, or
// with a key generated in the VM for this build (it never leaves the VM's tmpfs; only the
// certificate is published). The key and certificate are judged here, before anything boots,
// with Node's crypto (OpenSSL underneath): readable, not encrypted without a passphrase
// (KBUILD_SIGN_PIN, what sign-file reads), and matching each other.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { UsageError } from '../errors.js';

/** `signing:` in vexfs-image.yaml. */
export interface SigningConfig {
  key?: string;
  certificate?: string;
  generate?: boolean;
}

export type SigningPlan =
  | { mode: 'given'; keyPath: string; certificatePath: string; signer: string; certificateSha256: string }
  | { mode: 'generate' };

/** What the guest's sign-modules.sh gets for a given key (never a path: the VM cannot see the host). */
export interface SigningMaterial {
  /** PKCS#8 PEM, decrypted on the host: the VM never needs the passphrase. */
  keyPem: string;
  certificatePem: string;
  signer: string;
}

/** The name modinfo shows as `signer`: the certificate subject's CN (else O), as the kernel's x509 parser takes it. */
export function signerOf(cert: X509Certificate): string | undefined {
  const fields = cert.subject.split('\n');
  const get = (k: string): string | undefined => fields.find((l) => l.startsWith(`${k}=`))?.slice(k.length + 1);
  return get('CN') ?? get('O');
}

function readOrThrow(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${what} ${path} ${code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? String(e)})`}`);
  }
}

function loadKey(path: string, env: NodeJS.ProcessEnv): KeyObject {
  const data = readOrThrow(path, 'signing.key');
  const pin = env.KBUILD_SIGN_PIN;
  try {
    return createPrivateKey({ key: data, format: data.includes('-----BEGIN') ? 'pem' : 'der', ...(pin !== undefined ? { passphrase: pin } : {}) });
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code === 'ERR_MISSING_PASSPHRASE' || /passphrase|interrupted or cancelled/i.test(String(e))) {
      throw new UsageError(`signing.key ${path} is encrypted and no passphrase was given`, { hint: 'set KBUILD_SIGN_PIN to its passphrase (as for the kernel\'s sign-file), or give an unencrypted key' });
    }
    if (pin !== undefined && /bad decrypt/i.test(String(e))) throw new UsageError(`signing.key ${path}: KBUILD_SIGN_PIN is not its passphrase`);
    throw new UsageError(`signing.key ${path} is not a private key (PEM or DER): ${(e as Error).message}`);
  }
}

function loadCertificate(path: string): { cert: X509Certificate; pem: string } {
  const data = readOrThrow(path, 'signing.certificate');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(data);
  } catch (e) {
    throw new UsageError(`signing.certificate ${path} is not an X.509 certificate (PEM or DER): ${(e as Error).message}`);
  }
  return { cert, pem: cert.toString() };
}

/** `signing:` judged (exit 2 on any problem) before a build writes or starts anything. */
export function resolveSigning(cfg: SigningConfig | undefined, configDir: string, env: NodeJS.ProcessEnv = process.env): SigningPlan | undefined {
  if (!cfg) return undefined;
  const where = 'signing in vexfs-image.yaml';
  if (cfg.generate) {
    if (cfg.key || cfg.certificate) throw new UsageError(`${where}: give either generate: true or key and certificate, not both`);
    return { mode: 'generate' };
  }
  if (!cfg.key || !cfg.certificate) throw new UsageError(`${where}: needs key and certificate (paths), or generate: true`);
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(configDir, p));
  const keyPath = at(cfg.key);
  const certificatePath = at(cfg.certificate);
  const key = loadKey(keyPath, env);
  const { cert } = loadCertificate(certificatePath);
  if (!cert.checkPrivateKey(key)) throw new UsageError(`signing.key ${keyPath} does not match signing.certificate ${certificatePath} (their public keys differ)`);
  const signer = signerOf(cert);
  if (!signer) throw new UsageError(`signing.certificate ${certificatePath} has no CN or O in its subject: modinfo would show no signer`);
  return { mode: 'given', keyPath, certificatePath, signer, certificateSha256: cert.fingerprint256.replace(/:/g, '').toLowerCase() };
}

/** Re-read at signing time (the plan holds paths, never key bytes). */
export function signingMaterial(plan: Extract<SigningPlan, { mode: 'given' }>, env: NodeJS.ProcessEnv = process.env): SigningMaterial {
  const key = loadKey(plan.keyPath, env);
  const { cert, pem } = loadCertificate(plan.certificatePath);
  if (!cert.checkPrivateKey(key)) throw new UsageError(`signing.key ${plan.keyPath} no longer matches signing.certificate ${plan.certificatePath}`);
  return { keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), certificatePem: pem, signer: signerOf(cert) ?? plan.signer };
}

/** The CN of a certificate generated in the VM for one build. */
export const generatedSigner = (imageName: string): string => `vexfs-image build key for ${imageName}`;

/** Where the image records its modules' signer (validate's module-signer checks read it). */
export const IMAGE_SIGNER_FILE = '/etc/vexfs-image/module-signer';
export const IMAGE_CERTIFICATE_FILE = '/etc/vexfs-image/module-signing.crt';
/** Published beside the image. */
export const CERTIFICATE_SUFFIX = '.signing.crt';
