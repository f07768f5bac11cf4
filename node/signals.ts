// For entry points only (`trustlog serve`, `trustlog witness serve`, `npm start`): nothing
// below them touches process signals or installs process-wide handlers.

import { isDatabaseUnavailable, isDriverFault } from "./db.js";

/**
 * A long-running process outlives a database fault that escaped its caller: an error the
 * driver throws from one of its own timers, or a database error nobody awaited (node/db.ts
 * isDriverFault, isDatabaseUnavailable) is logged, and the pool reconnects on the next query.
 * Any other uncaught exception (or unhandled rejection, which Node raises as one) leaves the
 * process in a state nobody knows: logged, and the process exits 1 as Node would.
 */
export function surviveDatabaseFaults(logger: {
  error(obj: object, msg: string): void;
  fatal(obj: object, msg: string): void;
}): void {
  process.on("uncaughtException", (err, origin) => {
    if (isDriverFault(err) || isDatabaseUnavailable(err)) {
      logger.error({ err, origin }, "database fault escaped its caller; still serving");
      return;
    }
    logger.fatal({ err, origin }, "uncaught exception; exiting");
    process.exit(1);
  });
}

/**
 * Resolves on the first SIGINT or SIGTERM, after printing `message`, so the caller can stop
 * cleanly; a second signal exits at once (130 for SIGINT, 143 for SIGTERM).
 */
export function untilSignal(message: string): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(signal === "SIGINT" ? 130 : 143);
      stopping = true;
      process.stderr.write(`${signal}: ${message}\n`);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
