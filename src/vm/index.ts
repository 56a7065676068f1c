// The VM session's public face: the profile, the session state and its steps in lifecycle order.
export { assertProfileRequest, describeProfile, findOvmf, parseProfile, parseProfiles, profileFor, profileLabel, resolveHardware, resolveVmProfile, type ResolvedProfile, type VmProfile } from './profile.js';
export { assertAlive, newSession, serialLogOf, timeLeftMs, type CloudInitOutcome, type HasSession, type VmSession, type VmSessionOptions } from './session.js';
export { overlayStep } from './steps/overlay.js';
export { accessSeedStep } from './steps/access-seed.js';
export { bootStep } from './steps/boot.js';
export { waitSshStep } from './steps/wait-ssh.js';
export { waitCloudInitStep } from './steps/wait-cloud-init.js';
export { powerOff, powerOffStep } from './steps/power-off.js';
