// One AbortController for the whole process, aborted by SIGINT/SIGTERM.
export interface ProcessAbort {
  controller: AbortController;
  /** Which signal aborted the run, if any. */
  signalName(): NodeJS.Signals | undefined;
  dispose(): void;
}

export function abortOnSignals(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): ProcessAbort {
  const controller = new AbortController();
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    if (got) {
      // Second Ctrl-C: the user means it. Cleanup already runs; exit now.
      process.exit(130);
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
