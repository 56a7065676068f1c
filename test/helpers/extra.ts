// VEXFS_E2E_EXTRA=1: e2e cases that CI skips to keep its run within the hour (each boots a VM of
// its own for what a case CI does run covers in part); the README's "Tests" section lists them.
export const EXTRA = process.env.VEXFS_E2E_EXTRA === '1';
export const extraOnly: string | false = EXTRA ? false : 'set VEXFS_E2E_EXTRA=1 (CI skips it for time)';
