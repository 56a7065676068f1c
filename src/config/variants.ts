// The spec's three variants, adapted to Debian package names (linux-headers-generic is Ubuntu's;
// the Debian cloud kernel's headers are linux-headers-cloud-amd64), plus cargo for vexctl.
import type { VariantDef } from './schema.js';
import { archSpec, type Arch } from '../arch.js';

/** The build toolchain, with the kernel headers of the architecture's cloud kernel. */
export function defaultBasePackages(arch: Arch = 'amd64'): readonly string[] {
  return ['build-essential', archSpec(arch).headersPackage, 'cargo', 'curl', 'git', 'kmod'];
}

export const DEFAULT_BASE_PACKAGES: readonly string[] = defaultBasePackages('amd64');

/**
 * What "the toolchain" is when a variant purges it: the packages installed for the build and
 * the compilers they pulled in (dpkg-query patterns). `gcc-[0-9][0-9]` matches gcc-14 but not
 * gcc-14-base, which the essential libgcc-s1 needs.
 */
export const DEFAULT_TOOLCHAIN_PACKAGES: readonly string[] = [
  'build-essential', 'linux-headers-*', 'linux-kbuild-*', 'cargo', 'rustc', 'gcc', 'gcc-[0-9][0-9]',
  'g++', 'g++-[0-9][0-9]', 'cpp', 'cpp-[0-9][0-9]', 'make', 'dpkg-dev', 'libc6-dev', 'linux-libc-dev',
];

export const BUILTIN_VARIANTS: Readonly<Record<string, VariantDef>> = Object.freeze({
  minimal: {
    description: 'Lightweight deployment: toolchain and headers purged after the build, docs and caches dropped',
    packages: [],
    keep_toolchain: false,
    slim: true,
    hardening: false,
  },
  development: {
    description: 'Full development environment: toolchain kept, debugging tools added',
    packages: ['vim', 'gdb', 'strace', 'htop', 'tree'],
    keep_toolchain: true,
    slim: false,
    hardening: false,
  },
  production: {
    description: 'Hardened deployment: no password SSH, no root login, sysctl hardening, security upgrades',
    packages: ['systemd', 'rsyslog', 'logrotate', 'unattended-upgrades'],
    keep_toolchain: false,
    slim: false,
    hardening: true,
  },
});
