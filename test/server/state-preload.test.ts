// The sequencer drops its caches when it loses or regains leadership, whatever batch is in
// flight; a batch whose state loads were in flight then must still find every record its events
// read. Seen as ORG_UNKNOWN for invites to an org that existed, under bench/append.ts's paced
// load when the leadership heartbeat timed out (issue 13).

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../../node/db.js";
import type { Sequencer } from "../../server/sequencer.js";
import { StateCache } from "../../server/storage/state.js";
import { admin, History, testKey } from "../helpers/events.js";
import {
  BACKENDS,
  createTestLogDatabase,
  items,
  startSequencer,
  type TestLogDatabase,
} from "../helpers/log-harness.js";

const root = testKey("root");

describe.each(BACKENDS)("state preload on %s", (backend) => {
  let tdb: TestLogDatabase;
  let database: Database;
  let h: History;
  let sequencer: Sequencer;

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
    h = new History();
    ({ sequencer } = await startSequencer(database, { history: h }));
  });
  afterEach(async () => {
    await sequencer.stop();
    await database.close().catch(() => {});
    await tdb.drop();
  });

  it("finds every record even when the cache is cleared while loading", async () => {
    const [created] = await sequencer.submit(
      items(h.append(h.orgCreate("acme", { admins: [root] })).envelope),
    );
    expect(created && "error" in created).toBe(false);
    const cache = new StateCache(database.db);
    const invite = (n: number) => h.invite("acme", `u${n}`, admin(root)).event;
    await cache.preload([invite(1)]);
    expect(cache.org("acme")).toBeDefined();
    // The org is cached, the account u2 is not: only u2 is loaded, and the cache is dropped
    // while that load is in flight.
    const loading = cache.preload([invite(2)]);
    cache.clear();
    await loading;
    expect(cache.org("acme")?.id).toBe("acme");
    expect(cache.account("acme", "u2")).toBeUndefined();
  });
});
