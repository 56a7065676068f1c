// What may differ between two full builds of the same inputs (the reproducibility e2e, and the
// incremental e2e's full build against its incremental one).
/** Entries that differ between two builds of the same inputs, and why. */
export const EXPECTED_DIFFERENCES: ReadonlyArray<[RegExp, string]> = [
  [/^\/var\/lib\/systemd\/random-seed$/, "systemd saves a fresh random seed when the build VM powers off (after golden cleanup)"],
];
