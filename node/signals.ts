// For entry points only (`trustlog serve`, `trustlog witness serve`): nothing below them
// touches process signals.

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
