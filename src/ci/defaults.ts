// The real dependencies of the CI orchestrator: doctor, the image builder and the validator
// (src/validate/'s per-image validateImage; ci runs its own lanes, so it does not need
// validateImages' image discovery and pool). Unit tests pass fakes instead.
import { join } from 'node:path';
import { doctor } from '../doctor.js';
import { buildImage } from '../builder/index.js';
import type { Accel } from '../tools/qemu.js';
import { identifyImage } from '../validate/discover.js';
import { validateImage } from '../validate/image.js';
import { resolveCheckList, VALIDATE_DEFAULTS } from '../validate/index.js';
import type { CiDeps, ValidateSetup } from './orchestrator.js';
import type { ValidateFn } from './variant-run.js';

export interface ValidateTuning {
  bootTimeoutS: number;
  sshTimeoutS: number;
  memoryMb: number;
  cpus: number;
}

/** The same defaults as `vexfs-image validate`. */
export const CI_VALIDATE_DEFAULTS: Readonly<ValidateTuning> = Object.freeze({
  bootTimeoutS: VALIDATE_DEFAULTS.bootTimeoutS,
  sshTimeoutS: VALIDATE_DEFAULTS.sshTimeoutS,
  memoryMb: VALIDATE_DEFAULTS.memoryMb,
  cpus: VALIDATE_DEFAULTS.cpus,
});

export function makeValidate(setup: ValidateSetup, tuning: ValidateTuning = CI_VALIDATE_DEFAULTS): ValidateFn {
  const checks = resolveCheckList({ checks: setup.config.baseChecks, userChecks: setup.config.checks });
  return (image, o) =>
    validateImage(identifyImage(image.path, { variant: image.variant, version: image.version }), {
      checks,
      bootTimeoutS: tuning.bootTimeoutS,
      sshTimeoutS: tuning.sshTimeoutS,
      accel: setup.accel as Accel,
      memoryMb: tuning.memoryMb,
      cpus: setup.cpus ?? tuning.cpus,
      workDir: join(setup.buildDir, 'validate'),
      noCleanup: setup.noCleanup,
      // CI wants proof the image validated is the image shipped: hashed before and after, and
      // compared with its manifest.
      checksum: true,
      logsOutDir: o.logsOutDir,
      signal: o.signal,
      emit: o.emit,
    });
}

export function realDeps(tuning: ValidateTuning = CI_VALIDATE_DEFAULTS): CiDeps {
  return {
    doctor: (o) => doctor(o),
    build: buildImage,
    makeValidate: (setup) => makeValidate(setup, tuning),
  };
}
