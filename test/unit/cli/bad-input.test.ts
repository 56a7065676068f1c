// Bad input, every command and the config file: each case runs bin/vexfs-image as a child process
// with a fresh empty cwd, HOME and TMPDIR, and must exit 2 with one clear line naming the problem,
// leave cwd, HOME and TMPDIR empty, and start no process. "Started" is told two ways: a spy loaded
// into the CLI (NODE_OPTIONS=--import) logs every child_process call it makes, and PATH holds only
// fake qemu-system-x86_64, qemu-img, ssh, mmdebstrap... that log being run (and do nothing), plus
// the node, bash, dirname and readlink the bin wrapper itself needs. tsx's own esbuild service is
// the one child allowed (it compiles the CLI; TSX_DISABLE_CACHE keeps it out of TMPDIR).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCi } from '../../../src/ci/orchestrator.js';
import { PACKAGE_ROOT } from '../../../src/paths.js';
import { silentSink } from '../../../src/pipeline/events.js';
import { fakeDeps } from '../ci/fakes.js';

const BIN = join(PACKAGE_ROOT, 'bin', 'vexfs-image');

/**
 * The bin runs the compiled dist/ when it is newer than every source file (npm test builds it
 * first): tsx with its cache off (it would write to TMPDIR) compiled the whole CLI for every one
 * of ~100 cases, ~3 s a case.
 */
const CLI: string[] = [BIN];
const SPY = new URL('./fixtures/spawn-spy.mjs', import.meta.url).pathname;
const FAKE_TOOLS = [
  'qemu-system-x86_64', 'qemu-img', 'ssh', 'ssh-keygen', 'scp', 'mmdebstrap', 'cloud-localds', 'genisoimage', 'mkisofs', 'xorriso',
  'mke2fs', 'mkfs.ext4', 'sfdisk', 'setpriv', 'sudo', 'apt-get', 'dpkg-query', 'git', 'mount', 'umount', 'nproc', 'gzip', 'pigz', 'sh', 'flock', 'curl',
];
const WRAPPER_NEEDS = ['bash', 'dirname', 'readlink', 'find'];
const HEX = 'ab'.repeat(32);

let root = '';
let IN = '';
let fakeBin = '';

interface Case {
  args: string[];
  /** The one line on stderr (after "vexfs-image: "). */
  message: RegExp;
  env?: Record<string, string>;
}

/** @IN is the directory of prepared inputs (outside cwd, HOME and TMPDIR). */
const at = (s: string): string => s.replaceAll('@IN', IN);

function write(rel: string, text: string): void {
  const p = join(IN, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
}

const CASES: Record<string, Case> = {
  // top level
  'unknown command': { args: ['frobnicate'], message: /unknown command 'frobnicate'/ },
  'unknown global option': { args: ['--bogus'], message: /unknown option '--bogus'/ },

  // build: flags
  'build: empty --variant': { args: ['build', '--variant', ''], message: /invalid variant name "" \(from --variant\)/ },
  'build: --variant with upper case and _': { args: ['build', '--variant', 'Bad_Name'], message: /invalid variant name "Bad_Name"/ },
  'build: unknown --variant': { args: ['build', '--variant', 'nosuch'], message: /unknown variant "nosuch".*known variants are minimal, development, production/ },
  'build: --version with ..': { args: ['build', '--version', '1..2'], message: /invalid version "1\.\.2"/ },
  'build: --version with /': { args: ['build', '--version', '../../etc'], message: /invalid version "\.\.\/\.\.\/etc"/ },
  'build: empty --version': { args: ['build', '--version', ''], message: /invalid version ""/ },
  'build: unknown --format': { args: ['build', '--format', 'raw,ova'], message: /--format: unknown image format "ova": give any of qcow2, raw, vhd, vmdk, gce/ },
  'build: --cpus 0': { args: ['build', '--cpus', '0'], message: /--cpus must be a whole number of at least 1/ },
  'build: --cpus 1000': { args: ['build', '--cpus', '1000'], message: /--cpus must be a whole number from 1 to 64, got "1000"/ },
  'build: --cpus abc': { args: ['build', '--cpus', 'abc'], message: /--cpus must be a whole number/ },
  'build: --memory 100': { args: ['build', '--memory', '100'], message: /--memory must be a whole number of at least 512/ },
  'build: --memory beyond the host': { args: ['build', '--memory', '99999999'], message: /--memory 99999999.*more than this host has/ },
  'build: --timeout 0': { args: ['build', '--timeout', '0'], message: /--timeout must be a whole number of at least 1/ },
  'build: --disk-size 1G': { args: ['build', '--disk-size', '1G'], message: /invalid --disk-size: at least 2G/ },
  'build: --disk-size lots': { args: ['build', '--disk-size', 'lots'], message: /invalid size "lots"/ },
  'build: --source missing': { args: ['build', '--source', '@IN/nonexistent'], message: /source directory .*nonexistent does not exist/ },
  'build: --source is a file': { args: ['build', '--source', '@IN/afile'], message: /source directory .*afile is not a directory/ },
  'build: --config missing': { args: ['build', '--config', '@IN/nonexistent.yaml'], message: /config file .*nonexistent\.yaml does not exist/ },
  'build: --config /dev/zero': { args: ['build', '--config', '/dev/zero'], message: /config file \/dev\/zero is not a regular file/ },
  'build: --config a directory': { args: ['build', '--config', '@IN/dir'], message: /config file .*dir is not a regular file/ },
  'build: --config a dangling symlink': { args: ['build', '--config', '@IN/dangling'], message: /config file .*dangling does not exist/ },
  'build: --config too big': { args: ['build', '--config', '@IN/big.yaml'], message: /config file .*big\.yaml is larger than 1 MiB/ },
  'build: unknown flag': { args: ['build', '--frobnicate'], message: /unknown option '--frobnicate'/ },
  'build: extra argument': { args: ['build', 'extra'], message: /too many arguments/ },
  'build: IMAGE_VARIANT invalid': { args: ['build'], env: { IMAGE_VARIANT: 'Bad!' }, message: /invalid variant name "Bad!" \(from IMAGE_VARIANT\)/ },
  'build: VEXFS_VERSION invalid': { args: ['build'], env: { VEXFS_VERSION: '1 0' }, message: /invalid version "1 0" \(from VEXFS_VERSION\)/ },
  'build: --base unknown distro': { args: ['build', '--base', 'debian-14'], message: /unknown distro "debian-14"/ },
  'build: --base ftp URL': { args: ['build', '--base', 'ftp://example.org/x.img'], message: /unsupported URL scheme/ },
  'build: --base URL naming %2F..': { args: ['build', '--base', 'http://127.0.0.1:9/a/%2F..%2Fx'], message: /cannot be saved in the cache because it contains '\/'/ },
  'build: --base missing local file': { args: ['build', '--base', '@IN/nonexistent.qcow2'], message: /base image .*nonexistent\.qcow2 does not exist/ },
  'build: --base with a comma': { args: ['build', '--base', '@IN/a,b.qcow2'], message: /cannot be given to QEMU because it contains ','/ },
  'build: --output-dir is a file': { args: ['build', '--output-dir', '@IN/afile'], message: /--output-dir .*afile is not a directory/ },
  'build: --output-dir dangling symlink': { args: ['build', '--output-dir', '@IN/dangling'], message: /--output-dir .*dangling is a dangling symbolic link/ },
  'build: --output-dir under a file': { args: ['build', '--output-dir', '@IN/afile/sub'], message: /--output-dir .*afile\/sub cannot be created: .*afile is not a directory/ },
  'build: --build-dir is a file': { args: ['build', '--build-dir', '@IN/afile'], message: /--build-dir .*afile is not a directory/ },
  'build: --cache-dir is a file': { args: ['build', '--cache-dir', '@IN/afile'], message: /--cache-dir .*afile is not a directory/ },
  'build: --build-dir not creatable': { args: ['build', '--build-dir', '/proc/self/vexfs-test'], message: /--build-dir \/proc\/self\/vexfs-test cannot be created: \/proc\/self is on a proc file system/ },

  // build: the architecture (issue 19); PATH holds no qemu-system-aarch64 or qemu-aarch64-static
  'build: unknown --arch': { args: ['build', '--arch', 'riscv64'], message: /--arch: unknown architecture "riscv64": give amd64 or arm64/ },
  'build: --arch arm64 without its emulator and qemu-user': { args: ['build', '--arch', 'arm64'], message: /arm64 guests need qemu-system-aarch64 \(Debian package qemu-system-arm\).*qemu-aarch64-static \(Debian package qemu-user-static\).*apt-get install -y qemu-system-arm qemu-efi-aarch64 qemu-user-static binfmt-support$/ },
  'build: --arch arm64 without AAVMF': {
    args: ['build', '--arch', 'arm64'],
    env: { VEXFS_IMAGE_AAVMF_CODE: '/nonexistent/AAVMF_CODE.fd', VEXFS_IMAGE_AAVMF_VARS: '/nonexistent/AAVMF_VARS.fd' },
    message: /UEFI firmware \/nonexistent\/AAVMF_CODE\.fd \(Debian package qemu-efi-aarch64\)/,
  },
  'build: --arch arm64 with an Ubuntu preset': { args: ['build', '--arch', 'arm64', '--base', 'ubuntu-24.04'], message: /ubuntu-24\.04 is an amd64 cloud image: for --arch arm64 use debian-13 or debian-12/ },
  'config: unknown arch': { args: ['build', '--config', '@IN/cfg/arch.yaml'], message: /arch = "sparc"/ },
  'validate: unknown --arch': { args: ['validate', '--arch', 'mips', '@IN/imgs/plain.qcow2'], message: /--arch: unknown architecture "mips"/ },
  'validate: an arm64 image without its emulator': { args: ['validate', '@IN/imgs/vexfs-minimal-1.0.0-arm64.qcow2'], message: /arm64 guests need qemu-system-aarch64 \(Debian package qemu-system-arm\)/ },
  'validate: --arch that contradicts the image\'s name': { args: ['validate', '--arch', 'amd64', '@IN/imgs/vexfs-minimal-1.0.0-arm64.qcow2'], message: /is an arm64 image \(its name says so\), not amd64/ },
  'run: unknown --arch': { args: ['run', '--arch', 'ppc64el', '@IN/imgs/plain.qcow2'], message: /--arch: unknown architecture "ppc64el"/ },
  'base: --arch arm64 without qemu-user': { args: ['base', '--distro', 'debian-12', '--arch', 'arm64'], message: /arm64 guests need qemu-aarch64-static \(Debian package qemu-user-static\).*apt-get install -y qemu-user-static binfmt-support$/ },
  'ci: unknown --arch': { args: ['ci', '--arch', 'amd64,s390x'], message: /--arch: unknown architecture "s390x"/ },
  'ci: --arch arm64 without its emulator': { args: ['ci', '--arch', 'amd64,arm64'], message: /arm64 guests need qemu-system-aarch64 \(Debian package qemu-system-arm\)/ },
  'doctor: unknown --arch': { args: ['doctor', '--arch', 'vax'], message: /--arch: unknown architecture "vax"/ },

  // the config file
  'config: not YAML': { args: ['build', '--config', '@IN/cfg/bad-yaml.yaml'], message: /bad-yaml\.yaml: not valid YAML/ },
  'config: a list at the top': { args: ['build', '--config', '@IN/cfg/list.yaml'], message: /list\.yaml: \(top level\)/ },
  'config: profiles with an unknown value': { args: ['validate', '--config', '@IN/cfg/bad-profiles.yaml'], message: /profiles in .*bad-profiles\.yaml: unknown disk bus "floppy"/ },
  'config: profiles below the images\' memory (ci)': { args: ['ci', '--config', '@IN/cfg/small-profiles.yaml'], message: /profiles in .*small-profiles\.yaml uefi-nvme-256m-2cpu: 256 MiB of memory is below the 512 MiB/ },
  'config: formats with an unknown one': { args: ['build', '--config', '@IN/cfg/bad-formats.yaml'], message: /formats.*ova/ },
  'config: unknown key': { args: ['build', '--config', '@IN/cfg/unknown-key.yaml'], message: /unknown key colour = "red": allowed keys are/ },
  'config: base_packages -o option': { args: ['build', '--config', '@IN/cfg/pkg-option.yaml'], message: /base_packages\[1\] = "-oAPT::Get::AllowUnauthenticated=true": a Debian package name/ },
  'config: variant package with a comma': { args: ['build', '--config', '@IN/cfg/pkg-comma.yaml'], message: /variants\.x\.packages\[0\] = "vim,gdb": a Debian package name/ },
  'config: toolchain pattern that is an option': { args: ['build', '--config', '@IN/cfg/toolchain.yaml'], message: /toolchain_packages\[0\] = "--purge": a dpkg-query pattern/ },
  'config: memory too small': { args: ['build', '--config', '@IN/cfg/memory.yaml'], message: /memory = 100: Too small/i },
  'config: cpus too many': { args: ['build', '--config', '@IN/cfg/cpus.yaml'], message: /cpus = 1000: Too big/i },
  'config: bad variant name': { args: ['build', '--config', '@IN/cfg/variant.yaml'], message: /variant = "Prod"/ },
  'config: version with ..': { args: ['build', '--config', '@IN/cfg/version.yaml'], message: /invalid version "1\.\.0" \(from vexfs-image\.yaml\)/ },
  'config: disk_size nonsense': { args: ['build', '--config', '@IN/cfg/disk.yaml'], message: /invalid size "huge"/ },
  'config: YAML alias bomb': { args: ['build', '--config', '@IN/cfg/bomb.yaml'], message: /bomb\.yaml: not valid YAML/ },
  'config: --source tree with a bad config': { args: ['build', '--source', '@IN/src-bad'], message: /src-bad\/vexfs-image\.yaml: base_packages\[0\] = "-o"/ },
  'config: check with an invalid regex': { args: ['validate', '--config', '@IN/cfg/check-regex.yaml', '@IN/nonexistent.qcow2'], message: /check bad-re: bad regular expression: Invalid regular expression: \/\(\/m: Unterminated group/ },
  'config: check with an unknown {{variable}}': { args: ['validate', '--config', '@IN/cfg/check-var.yaml', '@IN/nonexistent.qcow2'], message: /check bad-var: unknown template variable \{\{colour\}\}/ },
  'config: duplicate check ids': { args: ['validate', '--config', '@IN/cfg/check-dup.yaml', '@IN/nonexistent.qcow2'], message: /duplicate check id "twice"/ },

  // validate
  'validate: --boot-timeout 0': { args: ['validate', '--boot-timeout', '0'], message: /--boot-timeout must be a whole number of at least 1/ },
  'validate: --ssh-timeout x': { args: ['validate', '--ssh-timeout', 'x'], message: /--ssh-timeout must be a whole number/ },
  'validate: --jobs 0': { args: ['validate', '--jobs', '0'], message: /--jobs must be a whole number of at least 1/ },
  'validate: --format pdf': { args: ['validate', '--format', 'pdf'], message: /pdf/ },
  'validate: --checks missing': { args: ['validate', '--checks', '@IN/nonexistent.yaml'], message: /--checks .*nonexistent\.yaml: cannot read/ },
  'validate: --checks with needs on a later check': { args: ['validate', '--checks', '@IN/checks/needs-later.yaml', '@IN/nonexistent.qcow2'], message: /needs "b", which comes later/ },
  'validate: --checks invalid regex': { args: ['validate', '--checks', '@IN/checks/regex.yaml', '@IN/nonexistent.qcow2'], message: /check r: bad regular expression: .*Range out of order/ },
  'validate: missing image': { args: ['validate', '@IN/nonexistent.qcow2'], message: /nonexistent\.qcow2/ },
  'validate: no images in -d': { args: ['validate', '-d', '@IN/dir'], message: /no .*images|no \*\.qcow2/i },
  'validate: --report-dir is a file': { args: ['validate', '--report-dir', '@IN/afile', '@IN/nonexistent.qcow2'], message: /--report-dir .*afile is not a directory/ },
  'validate: --work-dir is a file': { args: ['validate', '--work-dir', '@IN/afile', '@IN/nonexistent.qcow2'], message: /--work-dir .*afile is not a directory/ },
  'validate: --variant invalid': { args: ['validate', '--variant', 'Bad!', '@IN/nonexistent.qcow2'], message: /invalid variant name "Bad!"/ },
  'validate: --config /dev/zero': { args: ['validate', '--config', '/dev/zero'], message: /config file \/dev\/zero is not a regular file/ },
  'validate: --profile unknown value': { args: ['validate', '--profile', 'uefi,floppy', '@IN/nonexistent.qcow2'], message: /--profile: unknown profile value "floppy"/ },
  'validate: --profile unknown bus': { args: ['validate', '--profile', 'bus=ide'], message: /--profile: unknown disk bus "ide": give one of virtio-blk, virtio-scsi, nvme, sata/ },
  'validate: --profile memory below the images\' need': { args: ['validate', '--profile', 'uefi,nvme,384M'], message: /384 MiB of memory is below the 512 MiB the images need/ },
  'validate: --profile uefi without OVMF on the host': {
    args: ['validate', '--profile', 'uefi'],
    env: { VEXFS_IMAGE_OVMF_CODE: '/nonexistent/OVMF_CODE.fd', VEXFS_IMAGE_OVMF_VARS: '/nonexistent/OVMF_VARS.fd' },
    message: /UEFI firmware \(OVMF\), which is not installed.*Debian package ovmf/,
  },

  // ci
  'ci: --jobs 0': { args: ['ci', '--jobs', '0'], message: /--jobs must be a whole number of at least 1/ },
  'ci: --profile memory below the images\' need': { args: ['ci', '--profile', 'bios,256M'], message: /256 MiB of memory is below the 512 MiB the images need/ },
  'ci: --profile uefi without OVMF on the host': { args: ['ci', '--profile', 'uefi,nvme'], env: { VEXFS_IMAGE_OVMF_CODE: '/nonexistent/C.fd', VEXFS_IMAGE_OVMF_VARS: '/nonexistent/V.fd' }, message: /Debian package ovmf/ },
  'ci: unknown --format': { args: ['ci', '--format', 'qcow3'], message: /--format: unknown image format "qcow3"/ },
  'ci: unknown --variant': { args: ['ci', '--variant', 'nosuch'], message: /unknown variant "nosuch"/ },
  'ci: empty --variant': { args: ['ci', '--variant', ','], message: /--variant: no variant named/ },
  'ci: --artifacts-dir is a file': { args: ['ci', '--artifacts-dir', '@IN/afile'], message: /--artifacts-dir .*afile is not a directory/ },
  'ci: --notify-url ftp': { args: ['ci', '--notify-url', 'ftp://example.org/hook'], message: /--notify-url .*http or https/ },
  'ci: --notify-url not a URL': { args: ['ci', '--notify-url', 'not a url'], message: /--notify-url .*not a valid URL/ },
  'ci: VEXFS_NOTIFY_URL not a URL': { args: ['ci'], env: { VEXFS_NOTIFY_URL: 'hooks.example.org/x' }, message: /VEXFS_NOTIFY_URL .*not a valid URL/ },
  'ci: --cpus 1000': { args: ['ci', '--cpus', '1000'], message: /--cpus must be a whole number from 1 to 64, got "1000"/ },
  'ci: CI_TAG that is no version': { args: ['ci'], env: { CI_TAG: 'release-candidate' }, message: /tag "release-candidate" \(from CI_TAG\) is not a version tag/ },
  'ci: CI_COMMIT_SHA not hex': { args: ['ci'], env: { CI_COMMIT_SHA: 'zzz; rm -rf /' }, message: /invalid commit sha/ },

  // ci merge
  'ci merge: no shard': { args: ['ci', 'merge'], message: /missing required argument 'shard-dirs'/ },
  'ci merge: not a shard': { args: ['ci', 'merge', '@IN/dir', '--artifacts-dir', '@IN/merged-1'], message: /build-manifest\.json/ },
  'ci merge: shard is a file': { args: ['ci', 'merge', '@IN/afile', '--artifacts-dir', '@IN/merged-2'], message: /shard .*afile is not a directory/ },
  'ci merge: output is a shard': { args: ['ci', 'merge', '@IN/shard', '--artifacts-dir', '@IN/shard'], message: /the output directory .*shard is also a shard/ },
  'ci merge: symlink in a shard (--no-verify)': { args: ['ci', 'merge', '--no-verify', '@IN/shard-link', '--artifacts-dir', '@IN/merged-3'], message: /logs\/ci\.log in shard .* is a symbolic link to \/etc\/shadow/ },
  'ci merge: --notify-url ftp': { args: ['ci', 'merge', '@IN/shard', '--artifacts-dir', '@IN/merged-4', '--notify-url', 'ftp://x/y'], message: /--notify-url .*http or https/ },

  // base
  'base: unknown distro': { args: ['base', '--distro', 'debian-14'], message: /unknown distro "debian-14"/ },
  'base: ftp URL': { args: ['base', '--distro', 'ftp://example.org/x.img'], message: /unsupported URL scheme/ },
  'base: URL naming %2F..': { args: ['base', '--distro', 'http://127.0.0.1:9/a/%2F..', '--checksum', `sha256:${HEX}`], message: /contains '\/'/ },
  'base: URL naming ..%2F..%2Fetc': { args: ['base', '--distro', 'http://127.0.0.1:9/a/..%2F..%2Fetc%2Fx', '--checksum', `sha256:${HEX}`], message: /contains '\/'/ },
  'base: URL naming a NUL': { args: ['base', '--distro', 'http://127.0.0.1:9/a/x%00.img', '--checksum', `sha256:${HEX}`], message: /control character/ },
  'base: bad --checksum': { args: ['base', '--distro', 'http://127.0.0.1:9/a/x.img', '--checksum', 'md5:abc'], message: /--checksum must be sha256:<64 hex digits>/ },
  'base: --checksum for a preset': { args: ['base', '--distro', 'debian-13', '--checksum', `sha256:${HEX}`], message: /--checksum applies to downloaded images/ },
  'base: missing local file': { args: ['base', '--distro', '@IN/nonexistent.qcow2'], message: /base image .*nonexistent\.qcow2 does not exist/ },
  'base: local path with a comma': { args: ['base', '--distro', '@IN/a,b.qcow2'], message: /cannot be given to QEMU because it contains ','/ },
  'base: --cache-dir is a file': { args: ['base', '--distro', 'debian-13', '--cache-dir', '@IN/afile'], message: /--cache-dir .*afile is not a directory/ },

  // run
  'run: no image': { args: ['run'], message: /missing required argument 'image'/ },
  'run: missing image': { args: ['run', '@IN/nonexistent.qcow2'], message: /nonexistent\.qcow2/ },
  'run: bad --name': { args: ['run', '@IN/nonexistent.qcow2', '--name', 'a/b'], message: /invalid instance name "a\/b"/ },
  'run: --name ..': { args: ['run', '@IN/nonexistent.qcow2', '--name', '..'], message: /invalid instance name "\.\."/ },
  'run: --user root': { args: ['run', '@IN/nonexistent.qcow2', '--user', 'root'], message: /invalid user name "root"/ },
  'run: --memory 10': { args: ['run', '@IN/nonexistent.qcow2', '--memory', '10'], message: /--memory must be a whole number of at least 256/ },
  'run: --cpus 1000': { args: ['run', '@IN/nonexistent.qcow2', '--cpus', '1000'], message: /--cpus must be a whole number from 1 to 64, got "1000"/ },

  // ssh
  'ssh: bad NAME': { args: ['ssh', 'a/b'], message: /invalid instance name "a\/b"/ },
  'ssh: no such instance': { args: ['ssh', 'nosuch'], message: /nosuch/ },

  // cache
  'cache: unknown subcommand': { args: ['cache', 'frob'], message: /unknown command 'frob'/ },
  'cache prune: bad --older-than': { args: ['cache', 'prune', '--older-than', '5x'], message: /--older-than must look like 30d, 12h or 90m/ },
  'cache list: --cache-dir is a file': { args: ['cache', 'list', '--cache-dir', '@IN/afile'], message: /--cache-dir .*afile is not a directory/ },
  'cache prune: --cache-dir is a file': { args: ['cache', 'prune', '--cache-dir', '@IN/afile'], message: /--cache-dir .*afile is not a directory/ },

  // doctor
  'doctor: unknown flag': { args: ['doctor', '--bogus'], message: /unknown option '--bogus'/ },
  'doctor: extra argument': { args: ['doctor', 'extra'], message: /too many arguments/ },
};

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'vexfs-bad-input-'));
  IN = join(root, 'in');
  fakeBin = join(root, 'bin');
  mkdirSync(fakeBin, { recursive: true });
  for (const t of FAKE_TOOLS) {
    writeFileSync(join(fakeBin, t), '#!/bin/bash\necho "$0 $*" >> "$FAKE_LOG"\nexit 1\n');
    chmodSync(join(fakeBin, t), 0o755);
  }
  symlinkSync(process.execPath, join(fakeBin, 'node'));
  for (const t of WRAPPER_NEEDS) symlinkSync(['/usr/bin', '/bin'].map((d) => join(d, t)).find((p) => existsSync(p))!, join(fakeBin, t));
  write('afile', 'not a directory\n');
  mkdirSync(join(IN, 'dir'), { recursive: true });
  symlinkSync(join(IN, 'nowhere'), join(IN, 'dangling'));
  write('big.yaml', `# ${'x'.repeat(2 * 1024 * 1024)}\n`);
  write('cfg/bad-yaml.yaml', 'version: [1.0\n');
  write('cfg/list.yaml', '- a\n- b\n');
  write('cfg/unknown-key.yaml', 'colour: red\n');
  write('cfg/bad-profiles.yaml', 'profiles: ["bios", "bus=floppy"]\n');
  write('cfg/small-profiles.yaml', 'profiles: ["uefi,nvme,256M"]\n');
  write('cfg/bad-formats.yaml', 'formats: [raw, ova]\n');
  write('cfg/pkg-option.yaml', 'base_packages: [gcc, "-oAPT::Get::AllowUnauthenticated=true"]\n');
  write('cfg/pkg-comma.yaml', 'variants:\n  x:\n    packages: ["vim,gdb"]\n');
  write('cfg/toolchain.yaml', 'toolchain_packages: ["--purge"]\n');
  write('cfg/memory.yaml', 'memory: 100\n');
  write('cfg/cpus.yaml', 'cpus: 1000\n');
  write('cfg/variant.yaml', 'variant: Prod\n');
  write('cfg/arch.yaml', 'arch: sparc\n');
  write('imgs/plain.qcow2', '');
  write('imgs/vexfs-minimal-1.0.0-arm64.qcow2', '');
  write('cfg/version.yaml', 'version: "1..0"\n');
  write('cfg/disk.yaml', 'disk_size: huge\n');
  write('cfg/bomb.yaml', `a: &a ["x","x","x","x","x","x","x","x","x"]\n${Array.from({ length: 12 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`).join('\n')}\n`);
  write('src-bad/vexfs-image.yaml', 'base_packages: ["-o", "Dpkg::Options::=--force-all"]\n');
  write('cfg/check-regex.yaml', 'checks:\n  - id: bad-re\n    type: command\n    command: "true"\n    expect:\n      stdout_matches: "("\n');
  write('cfg/check-var.yaml', 'checks:\n  - id: bad-var\n    type: command\n    command: "echo {{colour}}"\n');
  write('cfg/check-dup.yaml', 'checks:\n  - id: twice\n    type: command\n    command: "true"\n  - id: twice\n    type: command\n    command: "false"\n');
  write('checks/needs-later.yaml', '- id: a\n  type: command\n  command: "true"\n  needs: [b]\n- id: b\n  type: command\n  command: "true"\n');
  write('checks/regex.yaml', '- id: r\n  type: command\n  command: "true"\n  expect:\n    stdout_not_matches: "[z-a]"\n');
  // Two real shards made by the orchestrator with fake build and validation; one gets a symlink.
  for (const name of ['shard', 'shard-link']) {
    await runCi(
      {
        variants: ['minimal'], jobs: 1, failFast: false, artifactsDir: join(IN, name), force: false,
        buildFlags: { buildDir: join(root, `build-${name}`), cacheDir: join(root, 'cache') },
        env: { CI_BUILD_NUMBER: '1', CI_COMMIT_SHA: 'c'.repeat(40) }, cwd: IN, signal: new AbortController().signal, emit: silentSink,
      },
      fakeDeps({}),
    );
  }
  rmSync(join(IN, 'shard-link', 'logs', 'ci.log'));
  symlinkSync('/etc/shadow', join(IN, 'shard-link', 'logs', 'ci.log'));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
  spawned: string[];
  fakes: string[];
  left: string[];
}

async function runCase(id: number, c: Case): Promise<Ran> {
  const box = join(root, `case-${id}`);
  const dirs = { cwd: join(box, 'cwd'), home: join(box, 'home'), tmp: join(box, 'tmp') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const spyLog = join(box, 'spawned.log');
  const fakeLog = join(box, 'fakes.log');
  const child = spawn(CLI[0]!, [...CLI.slice(1), ...c.args.map(at)], {
    cwd: dirs.cwd,
    env: {
      PATH: fakeBin, HOME: dirs.home, TMPDIR: dirs.tmp, LANG: 'C.UTF-8',
      NODE_OPTIONS: `--import=${SPY}`, VEXFS_SPY_LOG: spyLog, FAKE_LOG: fakeLog, TSX_DISABLE_CACHE: '1',
      ...Object.fromEntries(Object.entries(c.env ?? {}).map(([k, v]) => [k, at(v)])),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const status = await new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const lines = (f: string): string[] => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : []);
  const left = Object.entries(dirs).flatMap(([k, d]) => readdirSync(d, { recursive: true }).map((n) => `${k}/${String(n)}`));
  // tsx compiles the CLI through esbuild's service process: that child is the runtime's, not the CLI's.
  const spawned = lines(spyLog).filter((l) => !/esbuild/.test(l));
  return { status, stdout, stderr, spawned, fakes: lines(fakeLog), left };
}

describe('bad input: exit 2, one line, nothing written, nothing started', { concurrency: 3 }, () => {
  test(`the table has at least 60 cases (${Object.keys(CASES).length})`, () => {
    assert.ok(Object.keys(CASES).length >= 60);
  });
  test('control: the harness does see a command that starts processes and writes (doctor, valid input)', { timeout: 120_000 }, async () => {
    const r = await runCase(10_000, { args: ['doctor', '--json'], message: /./ });
    assert.ok(r.spawned.length > 0, 'the spy saw child processes');
    assert.ok(r.fakes.some((l) => /qemu/.test(l)), `a fake qemu was run: ${r.fakes.join('; ')}`);
  });
  for (const [i, [name, c]] of Object.entries(CASES).entries()) {
    test(name, { timeout: 120_000 }, async () => {
      const r = await runCase(i, c);
      const shown = `vexfs-image ${c.args.map(at).join(' ')}\nexit ${r.status}\nstderr: ${r.stderr}\nstdout: ${r.stdout.slice(0, 300)}`;
      assert.equal(r.status, 2, shown);
      const line = r.stderr.replace(/\n$/, '');
      assert.ok(!line.includes('\n'), `one line on stderr:\n${shown}`);
      assert.match(line, /^vexfs-image: /, shown);
      assert.match(line, c.message, shown);
      assert.ok(line.length < 500, `short: ${line.length} characters`);
      assert.doesNotMatch(line, /\b(ENOENT|EISDIR|ENOTDIR|EACCES|EEXIST)\b|\n\s+at /, `no raw errno text or stack:\n${shown}`);
      assert.equal(r.stdout, '', `nothing on stdout:\n${shown}`);
      assert.deepEqual(r.left, [], `cwd, HOME and TMPDIR stay empty:\n${shown}`);
      assert.deepEqual(r.spawned, [], `no process started by the CLI:\n${shown}`);
      assert.deepEqual(r.fakes, [], `no tool run:\n${shown}`);
    });
  }
});
