// A tiny HTTP log for pull-mode and gossip tests: test/helpers/memory-log.ts serveLog showing a
// TestLog: /checkpoint, C2SP hash tiles and /v1/proof/consistency. `current` says what it shows
// (swap it to simulate a fork); like a real log, every tile of every size up to the shown log's
// latest exists, whatever size its checkpoint shows.

import { serveLog } from "../helpers/memory-log.js";
import type { TestLog } from "./helpers.js";

export interface FixtureLog {
  url: string;
  /** What the log currently shows (swap it to simulate a fork). */
  current: { log: TestLog; size: number };
  requests: string[];
  close(): Promise<void>;
}

export async function startFixtureLog(log: TestLog, size = log.size): Promise<FixtureLog> {
  const current = { log, size };
  const fixture = { current } as FixtureLog;
  const served = await serveLog(
    () => ({ log: fixture.current.log, size: fixture.current.size, tiles: fixture.current.log.size }),
    { consistency: true },
  );
  return Object.assign(fixture, { url: served.url, requests: served.requests, close: served.close });
}
