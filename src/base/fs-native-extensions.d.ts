// The package ships no types; only what lock.ts uses is declared.
declare module 'fs-native-extensions' {
  /** A non-blocking lock on the open file description of fd (Linux: fcntl F_OFD_SETLK, whole file). */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
