// The `payload:` section of vexfs-image.yaml: what a project builds and installs. Absent, the
// payload is the VexFS layout of examples/vexfs (src/config/payload-defaults.ts).
import { z } from 'zod';

/** Kernel module names as modprobe knows them: no slash, no dot, no space. */
export const MODULE_NAME_RE = /^[A-Za-z0-9_-]+$/;
/** A tool's name (its check ids are derived from it). */
export const TOOL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
/** Values that travel to the guest build script as tab-separated lines: one line, no tab. */
const oneLine = (what: string) => z.string().regex(/^[^\t\n\r]*$/, `${what}: one line, no tabs`);

const CheckOverride = z
  .object({
    /** The check's id (default: derived from the name or path). */
    id: z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'lower-case letters, digits, ".", "_" and "-"').optional(),
    description: z.string().optional(),
    severity: z.enum(['error', 'warning']).optional(),
    group: z.string().optional(),
  })
  .strict();

export const ModuleSchema = z
  .object({
    /** The module's name (modprobe NAME): letters, digits, "_" and "-". */
    name: z.string().regex(MODULE_NAME_RE, 'a kernel module name: letters, digits, "_" and "-" (no "/")'),
    /** Where the .ko is after the build, relative to the build directory; a glob (default: **\/NAME.ko). */
    path: oneLine('path').optional(),
    /** Directory under /lib/modules/<kernel>/ it installs into (default: extra/NAME). */
    install_dir: oneLine('install_dir').optional(),
    /** The filesystem type it registers (turns on the /proc/filesystems and mount round-trip checks). */
    filesystem: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a filesystem type name').optional(),
  })
  .strict();

export const ToolSchema = z
  .object({
    /** The program's name (its check is NAME-version). */
    name: z.string().regex(TOOL_NAME_RE, 'a program name: letters, digits, ".", "_", "+" and "-"'),
    /** Where it is after the build, relative to the build directory; a glob (default: **\/NAME). */
    path: oneLine('path').optional(),
    /** Absolute path in the image (default: /usr/local/bin/NAME). */
    install_path: oneLine('install_path').optional(),
    /** A command printing the version, and the one line it must print ({{version}} = the image's). */
    version: z.object({ command: oneLine('version.command').min(1), expect: oneLine('version.expect').min(1) }).strict().optional(),
    /** false: a build without it goes on, and its checks are warnings. */
    required: z.boolean().default(true),
  })
  .strict();

export const FileSchema = z
  .object({
    /** A file of the source tree (relative to the source root) to install. */
    from: z.string().min(1).optional(),
    /** Or the file's content, inline. */
    content: z.string().optional(),
    /** Substitute {{version}}, {{variant}}, {{build_date}}, ... (default: `from` ends in .tmpl). */
    template: z.boolean().optional(),
    mode: z.string().regex(/^0?[0-7]{3}$/, 'an octal mode such as 0644 or 0755').optional(),
    /** Its "exists" check in validation; false: none. */
    check: z.union([z.literal(false), CheckOverride]).optional(),
  })
  .strict()
  .refine((f) => (f.from === undefined) !== (f.content === undefined), 'give exactly one of `from` and `content`');

export const PayloadSchema = z
  .object({
    build: z
      .object({
        /** Where the build runs: a directory of the source tree (default: its root). */
        directory: oneLine('build.directory').optional(),
        /** The build command, run with bash (default: build_command, else `make vm-build`). */
        command: oneLine('build.command').min(1).optional(),
        /** Extra environment of the build (VERSION, KDIR, KERNEL_RELEASE and DESTDIR are set already). */
        env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), oneLine('env value')).optional(),
      })
      .strict()
      .optional(),
    /** Run after the build with DESTDIR set (e.g. `make install DESTDIR=$DESTDIR`); its tree is copied into the image. */
    install_command: oneLine('install_command').min(1).optional(),
    /** The kernel modules (default: VexFS's vexfs.ko). */
    modules: z.array(ModuleSchema).min(1).optional(),
    /** User-space programs (default: VexFS's vexctl when modules are not declared, else none). */
    tools: z.array(ToolSchema).optional(),
    /** Files by path in the image; null drops a default one. */
    files: z.record(z.string().regex(/^\/[^\t\n\r]*$/, 'an absolute path in the image'), FileSchema.nullable()).optional(),
    /** systemd units to enable (their unit files go under `files`); each gets enabled and active checks. */
    services: z.array(z.string().regex(/^[A-Za-z0-9@_.:-]+\.(service|timer|socket|mount|path)$/, 'a systemd unit name such as NAME.service')).optional(),
  })
  .strict();

export type PayloadConfig = z.infer<typeof PayloadSchema>;
export type ModuleConfig = z.infer<typeof ModuleSchema>;
export type ToolConfig = z.infer<typeof ToolSchema>;
export type FileConfig = z.infer<typeof FileSchema>;
