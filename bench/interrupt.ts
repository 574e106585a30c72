/**
 * What the bench started, stopped when it is interrupted. Node's default on
 * SIGINT and SIGTERM ends the process at once: no `finally` runs, so the local
 * cloud (machines, namespace, its moto), the bench's moto and the temporary
 * projects would outlive it. Each holder registers its stop while it lives;
 * the first signal runs them newest first and exits 130 (SIGINT) or 143
 * (SIGTERM); a second signal exits at once. Signals within a second of the
 * first count as the same one: under `npm run bench`, tsx relays the
 * terminal's SIGINT to this process, which has its own from the terminal too.
 */

/** A registered stop; call it to unregister (the holder stopped it itself). */
export type Unregister = () => void;

const stops: { what: string; stop: () => Promise<void> | void }[] = [];
let installed = false;
/** When the first signal came (performance.now()), once one has. */
let firstSignalAt: number | undefined;
/** Signals closer than this to the first are the same Ctrl-C delivered twice. */
const SAME_SIGNAL_MS = 1_000;

/** Runs `stop` if the bench is interrupted before the returned function is called. */
export function stopOnInterrupt(what: string, stop: () => Promise<void> | void): Unregister {
  const entry = { what, stop };
  stops.push(entry);
  return () => {
    const at = stops.indexOf(entry);
    if (at >= 0) stops.splice(at, 1);
  };
}

/** Stops what is registered, newest first; each stop's failure is logged, not thrown. */
export async function runStops(log: (line: string) => void): Promise<void> {
  while (stops.length > 0) {
    const entry = stops.pop();
    if (!entry) break;
    log(`interrupted: stopping ${entry.what}`);
    try {
      await entry.stop();
    } catch (error) {
      log(`interrupted: could not stop ${entry.what}: ${(error as Error).message}`);
    }
  }
}

/** Makes SIGINT and SIGTERM stop what is registered before the bench exits. */
export function installInterruptHandler(log: (line: string) => void): void {
  if (installed) return;
  installed = true;
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    if (firstSignalAt !== undefined) {
      if (performance.now() - firstSignalAt < SAME_SIGNAL_MS) return;
      log(`${signal} again: exiting without stopping the rest`);
      process.exit(code);
    }
    firstSignalAt = performance.now();
    log(`${signal}: stopping what the bench started (${signal} again exits at once)`);
    void runStops(log).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => onSignal('SIGINT', 130));
  process.on('SIGTERM', () => onSignal('SIGTERM', 143));
}
