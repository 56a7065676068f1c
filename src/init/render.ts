// The commented vexfs-image.yaml that `vexfs-image init` writes: what the scan found, what it
// guessed (marked so), and the keys left at their defaults as comments. Text, not a YAML
// serialisation, because the comments are the point; scalars are written as JSON strings,
// which YAML reads as they are.
import type { TreeScan } from './scan.js';

export interface InitGuess {
  /** The build directory (relative to the source root) and the command run there. */
  directory: string;
  command: string;
  why: string;
}

const q = (s: string): string => JSON.stringify(s);

// Targets that conventionally build kernel modules, in the order they are preferred.
const BUILD_TARGETS = ['vm-build', 'modules', 'module', 'build', 'all', 'default'];

export function guessBuild(scan: TreeScan): InitGuess {
  const target = BUILD_TARGETS.find((t) => scan.makeTargets.includes(t));
  if (target) return { directory: '.', command: `make ${target}`, why: `the root Makefile's ${q(target)} target` };
  const dir = scan.modules[0]?.dir ?? '.';
  // The kernel's own out-of-tree module build (KDIR is set by the build script).
  return { directory: dir, command: 'make -C "$KDIR" M="$PWD" modules', why: `no build target in a root Makefile: the kernel's module build in ${dir}` };
}

const posixJoin = (dir: string, file: string): string => (dir === '.' ? file : `${dir}/${file}`);
/** A path relative to the build directory (the module's dir is inside it or equal to it). */
function relativeTo(buildDir: string, path: string): string {
  if (buildDir === '.') return path;
  return path.startsWith(`${buildDir}/`) ? path.slice(buildDir.length + 1) : `**/${path.split('/').pop()}`;
}

export function renderInitConfig(scan: TreeScan, sourceLabel: string): string {
  const b = guessBuild(scan);
  const out: string[] = [
    '# yaml-language-server: $schema=https://github.com/vexfs/vexfs-image/raw/main/schema/vexfs-image.schema.json',
    `# Written by \`vexfs-image init\` from ${sourceLabel}. Found = read from the tree; guessed = check it.`,
    '# Reference: docs/bring-your-own-module.md. Build: vexfs-image build --source DIR --variant minimal',
    '',
    scan.version ? `version: ${q(scan.version)}   # found: the VERSION file` : '# version: "1.0.0"   # the image version (default 1.0.0; --version, VEXFS_VERSION)',
    '# variant: minimal',
    '',
    'payload:',
    '  build:',
    `    directory: ${q(b.directory)}   # guessed: ${b.why}`,
    `    command: ${q(b.command)}`,
    '    # env: { MY_FLAG: "1" }   # extra environment (VERSION, KDIR, KERNEL_RELEASE are set)',
    '  # install_command: "make install DESTDIR=$DESTDIR"   # instead of the paths below, install what this stages',
  ];
  if (scan.modules.length) {
    out.push('  modules:');
    for (const m of scan.modules) {
      out.push(`    - name: ${q(m.name)}   # found: obj-m in ${m.from}`);
      out.push(`      path: ${q(relativeTo(b.directory, posixJoin(m.dir, `${m.name}.ko`)))}   # guessed: where kbuild writes it, relative to the build directory`);
      out.push(`      # install_dir: ${q(`extra/${m.name}`)}   # under /lib/modules/<kernel>/`);
      if (m.filesystem) out.push(`      filesystem: ${q(m.filesystem)}   # found: the file_system_type it registers (turns on the mount checks)`);
      else out.push('      # filesystem: NAME   # the filesystem type it registers, if any (turns on the mount checks)');
    }
  } else {
    out.push('  # No obj-m line was found: declare the module(s) the build produces.', '  modules:', '    - name: CHANGE-ME', '      path: "**/CHANGE-ME.ko"');
  }
  if (scan.bins.length) {
    out.push('  # Cargo binaries found; uncomment the ones the build command builds and the image should ship.', '  # tools:');
    for (const t of scan.bins) {
      out.push(`  #   - name: ${q(t.name)}   # found: ${t.from}`, `  #     path: ${q(`**/release/${t.name}`)}`, `  #     install_path: ${q(`/usr/local/bin/${t.name}`)}`, `  #     version: { command: ${q(`${t.name} --version`)}, expect: ${q(`${t.name} {{version}}`)} }   # guessed`);
    }
  } else {
    out.push('  tools: []   # found no Cargo [[bin]] target; add user-space programs here');
  }
  out.push(
    '  # files:   # installed by cloud-init; templates get {{version}}, {{variant}}, {{build_date}}, ...',
    '  #   /etc/NAME/NAME.conf: { from: "packaging/NAME.conf.tmpl" }',
    '  #   /etc/systemd/system/NAME.service: { from: "packaging/NAME.service", check: false }',
    '  # services: [NAME.service]   # enabled in the image; checked enabled and active',
    '',
  );
  return out.join('\n');
}
