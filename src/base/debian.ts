// Debian bases built from Debian packages: mmdebstrap into a directory, the files and hook in
// guest/base/debian/, a raw GPT disk that boots with BIOS and UEFI, assembled without loop
// devices (disk.ts), then a compressed qcow2. The recipe is plain data; its hash is the cache key.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PreconditionError } from '../errors.js';
import { GUEST_DIR, PACKAGE_VERSION } from '../paths.js';
import { mmdebstrapVersion, runMmdebstrap } from '../tools/mmdebstrap.js';
import { convertToQcow2 } from '../tools/qemu-img.js';
import type { ExecOptions } from '../tools/exec.js';
import { which } from '../tools/host-tools.js';
import { ensureBinfmt } from '../tools/binfmt.js';
import { DISK_LAYOUT, makeBootableRawDisk } from './disk.js';
import { removeTree } from './safe-remove.js';
import { secureBootEspFiles } from './secure-boot-esp.js';
import type { DebianPreset } from './presets.js';
import { archFileStem, archSpec, DEFAULT_ARCH, type Arch } from '../arch.js';

export const DEBIAN_GUEST_DIR = join(GUEST_DIR, 'base', 'debian');

/** Bump when the build procedure changes in a way the recipe fields do not show. */
export const RECIPE_VERSION = 3;

/** The virtual size the base is stored with; consumers grow their overlay (default 10 GiB). */
export const BASE_DISK_BYTES = 3 * 1024 * 1024 * 1024;

/**
 * What a cloud-ready base needs: the cloud kernel, systemd with networkd + resolved (cloud-init
 * renders networkd files), sshd, cloud-init, sudo, growpart (cloud-guest-utils + fdisk) and
 * resize2fs so the root grows to the overlay's size on first boot, GRUB's BIOS and UEFI
 * modules (the images are made from them; neither grub-pc nor grub-efi-amd64 is installed).
 */
const COMMON_BASE_PACKAGES: readonly string[] = [
  'systemd-sysv',
  'systemd-resolved',
  'udev',
  'dbus',
  'openssh-server',
  'cloud-init',
  'sudo',
  'cloud-guest-utils',
  'fdisk',
  'e2fsprogs',
  'ca-certificates',
  'iproute2',
  'netbase',
  'procps',
];

/** The base's packages for an architecture: the common ones plus its kernel and GRUB images (src/arch.ts). */
export function debianBasePackages(arch: Arch = DEFAULT_ARCH): string[] {
  const a = archSpec(arch);
  return [a.kernelPackage, ...COMMON_BASE_PACKAGES, ...a.grubPackages];
}

export const DEBIAN_BASE_PACKAGES: readonly string[] = debianBasePackages('amd64');

export interface DebianRecipe {
  recipeVersion: number;
  tool: string;
  distro: string;
  suite: string;
  /** Debian architecture (src/arch.ts): arm64 is built on an x86_64 host through qemu-user. */
  architecture: Arch;
  variant: 'minbase';
  packages: string[];
  mirror: string;
  securityMirror: string;
  diskBytes: number;
  /** The partition layout (disk.ts): a base cached with another layout is another base. */
  diskLayout: string;
  format: 'qcow2';
  compression: 'zstd';
  /** SHA-256 over guest/base/debian (hook, static files): editing them rebuilds the base. */
  guestFiles: string;
}

export interface RecipeOptions {
  mirror?: string;
  securityMirror?: string;
  extraPackages?: readonly string[];
  arch?: Arch;
}

export async function debianRecipe(preset: DebianPreset, opts: RecipeOptions = {}): Promise<DebianRecipe> {
  return {
    recipeVersion: RECIPE_VERSION,
    tool: `vexfs-image ${PACKAGE_VERSION}`,
    distro: preset.name,
    suite: preset.suite,
    architecture: opts.arch ?? DEFAULT_ARCH,
    variant: 'minbase',
    packages: [...new Set([...debianBasePackages(opts.arch), ...(opts.extraPackages ?? [])])].sort(),
    mirror: (opts.mirror ?? 'http://deb.debian.org/debian').replace(/\/+$/, ''),
    securityMirror: (opts.securityMirror ?? 'http://deb.debian.org/debian-security').replace(/\/+$/, ''),
    diskBytes: BASE_DISK_BYTES,
    diskLayout: DISK_LAYOUT,
    format: 'qcow2',
    compression: 'zstd',
    guestFiles: await hashTree(DEBIAN_GUEST_DIR),
  };
}

/** Canonical JSON (sorted keys) of the recipe, hashed. */
export function recipeHash(recipe: DebianRecipe): string {
  const canon = JSON.stringify(recipe, Object.keys(recipe).sort());
  return createHash('sha256').update(canon).digest('hex');
}

export function recipeKey(recipe: DebianRecipe): string {
  return `${archFileStem(recipe.distro, recipe.architecture)}-${recipeHash(recipe).slice(0, 16)}`;
}

/** SHA-256 over relative paths, modes and contents of every file under dir. */
export async function hashTree(dir: string): Promise<string> {
  const h = createHash('sha256');
  const walk = async (d: string): Promise<void> => {
    for (const ent of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else {
        const st = await stat(p);
        h.update(`${relative(dir, p)}\0${(st.mode & 0o777).toString(8)}\0`);
        h.update(await readFile(p));
        h.update('\0');
      }
    }
  };
  await walk(dir);
  return h.digest('hex');
}

export function debianSources(r: DebianRecipe): string[] {
  return [`deb ${r.mirror} ${r.suite} ${r.suite}-updates main`, `deb ${r.securityMirror} ${r.suite}-security main`];
}

export interface BuildOptions extends ExecOptions {
  onInfo?: (msg: string) => void;
}

export interface BuildTimings {
  mmdebstrapMs: number;
  diskMs: number;
  convertMs: number;
}

/**
 * Builds the base into outImage (qcow2), using workDir for the root tree and the raw disk
 * (both removed afterwards). Needs root: mmdebstrap's root mode bind-mounts /proc and /dev in
 * the chroot, and the tree's files must be owned by the right users for mke2fs -d.
 */
export async function buildDebianBase(recipe: DebianRecipe, outImage: string, workDir: string, opts: BuildOptions = {}): Promise<BuildTimings & { mmdebstrap: string }> {
  if (process.getuid?.() !== 0) {
    throw new PreconditionError('building a Debian base needs root (mmdebstrap in root mode, files owned by root in the image)', {
      hint: 'run as root (CI runs as root), or use --distro PATH with a ready image',
    });
  }
  const { onInfo, ...exec } = opts;
  const mmVersion = await mmdebstrapVersion(exec).catch((e: unknown) => {
    throw new PreconditionError('mmdebstrap is not installed', { cause: e, hint: 'apt-get install mmdebstrap (or run `vexfs-image doctor --install`)' });
  });
  // The ESP is FAT made on the disk file itself (dosfstools + mtools), not mounted.
  for (const [tool, pkg] of [['mkfs.fat', 'dosfstools'], ['mmd', 'mtools'], ['mcopy', 'mtools'], ['sfdisk', 'fdisk'], ['mke2fs', 'e2fsprogs']] as const) {
    if (!which(tool)) throw new PreconditionError(`${tool} is not installed (needed to assemble the base's disk)`, { hint: `apt-get install ${pkg}` });
  }
  const arch = archSpec(recipe.architecture);
  // A foreign architecture's maintainer scripts run under qemu-user (binfmt_misc), on the host.
  if (recipe.architecture !== 'amd64') await ensureBinfmt(arch.uname, exec);
  const rootDir = join(workDir, 'root');
  const raw = join(workDir, 'disk.raw');
  const uuid = randomUUID();
  try {
    let t = Date.now();
    onInfo?.(`mmdebstrap ${recipe.suite} (${recipe.packages.length} packages)`);
    await runMmdebstrap(
      {
        suite: recipe.suite,
        architecture: arch.debian,
        variant: recipe.variant,
        packages: recipe.packages,
        sources: debianSources(recipe),
        target: rootDir,
        dpkgOpts: [join(DEBIAN_GUEST_DIR, 'dpkg-excludes.cfg')],
        setupHooks: [join(DEBIAN_GUEST_DIR, 'setup.sh')],
        customizeHooks: [join(DEBIAN_GUEST_DIR, 'customize.sh')],
      },
      {
        ...exec,
        env: {
          ...exec.env,
          // Debian's own interpreters first: mmdebstrap runs mmtarfilter (#!/usr/bin/env python3)
          // once per package, and a pyenv or similar shim first in PATH costs ~0.5 s each.
          PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${exec.env?.PATH ?? process.env.PATH ?? ''}`,
          VEXFS_SUITE: recipe.suite,
          VEXFS_ARCH: arch.debian,
          VEXFS_ROOT_UUID: uuid,
          VEXFS_MIRROR: recipe.mirror,
          VEXFS_SECURITY_MIRROR: recipe.securityMirror,
        },
      },
    );
    const mmdebstrapMs = Date.now() - t;
    t = Date.now();
    const bios = arch.grubPlatforms.includes('i386-pc');
    onInfo?.(`assembling the disk (GPT by sfdisk, mke2fs -d, ESP by mkfs.fat + mtools, GRUB for ${bios ? 'BIOS and ' : ''}UEFI)`);
    const espFiles = await secureBootEspFiles(rootDir, uuid, workDir);
    await makeBootableRawDisk(
      {
        image: raw,
        rootDir,
        uuid,
        diskBytes: recipe.diskBytes,
        ...(bios ? { bootImgPath: join(rootDir, 'boot/grub/i386-pc/boot.img'), coreImgPath: join(rootDir, 'boot/grub/i386-pc/core.img') } : {}),
        efiImgPath: join(rootDir, `boot/grub/${arch.grubEfiPlatform}/core.efi`),
        efiRemovablePath: arch.efiRemovablePath,
        espVolumeId: randomBytes(4).toString('hex'),
        ...(espFiles ? { espFiles } : {}),
      },
      exec,
    );
    const diskMs = Date.now() - t;
    await removeTree(rootDir);
    t = Date.now();
    onInfo?.('converting to compressed qcow2');
    await convertToQcow2(raw, outImage, { ...exec, sourceFormat: 'raw', compress: true, compressionType: recipe.compression });
    return { mmdebstrapMs, diskMs, convertMs: Date.now() - t, mmdebstrap: mmVersion };
  } finally {
    await removeTree(rootDir);
    await rm(raw, { force: true });
    await rm(join(workDir, 'esp-grub.cfg'), { force: true });
  }
}
