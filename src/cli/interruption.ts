/**
 * A live view's stop switch: Ctrl-C, SIGTERM, or a reader that went away (EPIPE on stdout) aborts
 * `signal`; `quit` aborts it from the view itself (q in the ink view); `release` takes the
 * handlers off again once the view ends.
 */
export interface Interruption {
  readonly signal: AbortSignal;
  quit(): void;
  release(): void;
}

export function onInterruption(): Interruption {
  const stop = new AbortController();
  const quit = () => stop.abort();
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  process.stdout.on('error', quit); // the reader went away (EPIPE): nothing left to show
  return {
    signal: stop.signal,
    quit,
    release() {
      process.off('SIGINT', quit);
      process.off('SIGTERM', quit);
      process.stdout.off('error', quit);
    },
  };
}
