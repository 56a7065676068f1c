// The resolved payload in the frozen build plan: what is built, where, and what is installed.
import type { CheckDef } from './schema.js';

export interface PayloadModule {
  name: string;
  /** Glob relative to the build directory (or to DESTDIR with an install command). */
  path: string;
  /** Under /lib/modules/<kernel>/. */
  installDir: string;
  filesystem?: string;
}

export interface PayloadTool {
  name: string;
  path: string;
  installPath: string;
  version?: { command: string; expect: string };
  required: boolean;
  /** Checks that follow its version check (the VexFS default's `vexctl status`). */
  extraChecks: readonly CheckDef[];
}

export interface FileCheck {
  id: string;
  group: string;
  severity: 'error' | 'warning';
  description?: string;
}

export interface PayloadFile {
  /** Absolute path in the image. */
  path: string;
  /** Host path of its content (a file of the source tree or of guest/files/). */
  from?: string;
  content?: string;
  template: boolean;
  mode: '0644' | '0755' | string;
  /** A configuration file: checked before the services that read it (others after the mounts). */
  config: boolean;
  check: FileCheck | false;
  extraChecks: readonly CheckDef[];
}

export interface Payload {
  /** Report group of its checks: the first module's name. */
  group: string;
  /** Relative to the source root, '.' for the root. */
  buildDirectory: string;
  buildCommand: string;
  env: Readonly<Record<string, string>>;
  installCommand?: string;
  modules: readonly PayloadModule[];
  tools: readonly PayloadTool[];
  files: readonly PayloadFile[];
  services: readonly string[];
}
