// The time rule (DESIGN.md §3 rule 6): an event's own `time` is what grants are judged by, so it
// must be close to when the event was logged: within the skew of the server's clock at
// submission (core/policy.ts, ApplyContext.now) and, on replay, of the log's time in the index
// leaf that first covers it (here).

import { TrustlogError } from "./errors.js";
import { type KeyEvent, parseEventTime } from "./event.js";

export const DEFAULT_SKEW_SECONDS = 300;

/**
 * The replay half of the time rule (DESIGN.md §3 rule 6): an event's `time` must be within the
 * skew of the log's time in the index leaf that first covers it (core/chain-index.ts), so a
 * signer cannot date an event into a grant's validity long after (or before) it was logged.
 * The server applies the same bound against its clock at submission and writes that clock into
 * the index leaf, so an honest log never fails this. Throws SKEW.
 */
export function checkCoveredTime(
  event: KeyEvent,
  indexTimeMs: number,
  skewSeconds = DEFAULT_SKEW_SECONDS,
): void {
  const t = parseEventTime(event.time)!;
  const logTime = Math.floor(indexTimeMs / 1000);
  if (Math.abs(t - logTime) > skewSeconds) {
    throw new TrustlogError(
      "SKEW",
      `event time ${event.time} is more than ${skewSeconds} s from the log's time when it was logged`,
      {
        logTime,
        skewSeconds,
      },
    );
  }
}
