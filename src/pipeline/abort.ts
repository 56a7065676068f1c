// One AbortController for the whole process, aborted by SIGINT, SIGTERM or SIGHUP (a closed
// terminal must not leave a VM running either). What a second signal
// does is the caller's policy (the CLI exits at once; a library caller may do anything else):
// this module never ends the process itself.
export interface ProcessAbort {
  controller: AbortController;
  /** Which signal aborted the run, if any. */
  signalName(): NodeJS.Signals | undefined;
  dispose(): void;
}

export interface AbortOnSignalsOptions {
  /** Called for every signal after the first (the run is already aborting: the user means it). */
  onRepeat?(signal: NodeJS.Signals): void;
}

export function abortOnSignals(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'], opts: AbortOnSignalsOptions = {}): ProcessAbort {
  const controller = new AbortController();
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (got) {
      opts.onRepeat?.(sig);
      return;
    }
    got = sig;
    controller.abort(new Error(`received ${sig}`));
  };
  for (const s of signals) process.on(s, handler);
  return {
    controller,
    signalName: () => got,
    dispose: () => {
      for (const s of signals) process.off(s, handler);
    },
  };
}
