// The real dependencies of the CI orchestrator: doctor, the image builder and the validator
// (src/validate/'s per-image validateImage; ci runs its own lanes, so it does not need
// validateImages' image discovery and pool). Unit tests pass fakes instead.
import { join } from 'node:path';
import { doctor } from '../doctor.js';
import { buildImage } from '../builder/index.js';
import { DEFAULT_HARDWARE, profileFor, resolveHardware, type Hardware } from '../vm/profile.js';
import { DEFAULT_ARCH, type Arch } from '../arch.js';

/** amd64's hardware as given; another architecture's resolved for it (its machine, firmware). */
function archHardware(hw: Hardware, arch: Arch | undefined): Hardware {
  if (!arch || arch === DEFAULT_ARCH) return hw;
  return resolveHardware({ arch, diskBus: hw.diskBus, ...(hw.firmware === 'uefi' ? { firmware: 'uefi' } : {}) });
}
import { identifyImage } from '../validate/discover.js';
import { validateImage } from '../validate/image.js';
import { profileForImage } from '../validate/secure-boot.js';
import { resolveCheckList, VALIDATE_DEFAULTS } from '../validate/index.js';
import type { CiDeps, ValidateSetup } from './context.js';
import type { ValidateFn } from './variant-run.js';

/** ci --jobs. Measured on the 2-core TCG reference machine (docs/ci.md): two VMs at once were not faster. */
export const DEFAULT_JOBS = 1;

export interface ValidateTuning {
  bootTimeoutS: number;
  sshTimeoutS: number;
  memoryMb: number;
  cpus: number;
}

export function makeValidate(setup: ValidateSetup, tuning: ValidateTuning = VALIDATE_DEFAULTS): ValidateFn {
  const checks = resolveCheckList({ checks: setup.config.baseChecks, userChecks: setup.config.checks });
  return (image, o) => {
    const target = identifyImage(image.path, { variant: image.variant, version: image.version, ...(image.arch ? { arch: image.arch } : {}) });
    return validateImage(target, {
      checks,
      bootTimeoutS: tuning.bootTimeoutS,
      sshTimeoutS: tuning.sshTimeoutS,
      // A matrix row's profile (ci --profile), else the default one as always; on the image's
      // architecture (secureboot: with the just-built image's module certificate to enrol).
      profile: o.profile
        ? profileForImage(profileFor(setup.accel, o.profile.choice.memoryMb, o.profile.choice.cpus, process.env, archHardware(o.profile.hardware, image.arch)), target)
        : profileFor(setup.accel, tuning.memoryMb, setup.cpus ?? tuning.cpus, process.env, archHardware(DEFAULT_HARDWARE, image.arch)),
      ...(o.profile ? { profileLabel: o.profile.label } : {}),
      workDir: join(setup.buildDir, 'validate'),
      noCleanup: setup.noCleanup,
      // CI wants proof the image validated is the image shipped: hashed before and after, and
      // compared with its manifest.
      checksum: true,
      logsOutDir: o.logsOutDir,
      signal: o.signal,
      emit: o.emit,
    });
  };
}

export function realDeps(tuning: ValidateTuning = VALIDATE_DEFAULTS): CiDeps {
  return {
    doctor: (o) => doctor(o),
    build: buildImage,
    makeValidate: (setup) => makeValidate(setup, tuning),
  };
}
