// The sequencer's state cache, on PostgreSQL and on PGlite: overflowing its capacity must not
// lose records it held. Each scenario runs the real sequencer with a tiny cache, so every few
// events the cache starts over and has to reload the org and accounts from the database.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../../node/db.js";
import { useNativeEd25519 } from "../../node/ed25519-native.js";
import type { Sequencer, SubmitResult } from "../../server/sequencer.js";
import { StateCache } from "../../server/state-cache.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import {
  BACKENDS,
  checkLog,
  createTestLogDatabase,
  items,
  startSequencer,
  type TestLogDatabase,
  testVerifier,
} from "../helpers/log-harness.js";

useNativeEd25519();

const root = testKey("root");
const bridge = testKey("bridge");

function accepted(rs: SubmitResult[]): void {
  for (const r of rs) if ("error" in r) throw new Error(`refused: ${r.error.code} ${r.error.message}`);
}

describe.each(BACKENDS)("state cache on %s", (backend) => {
  let tdb: TestLogDatabase;
  let database: Database;
  let h: History;
  let sequencer: Sequencer;

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
    h = new History();
    // Three records: the org and two accounts fit, the third account overflows it.
    ({ sequencer } = await startSequencer(database, { history: h, stateCacheSize: 3 }));
  });
  afterEach(async () => {
    await sequencer.stop();
    await database.close().catch(() => {});
    await tdb.drop();
  });

  it("reloads cached orgs and accounts after it overflows (no ORG_UNKNOWN at the limit)", async () => {
    accepted(await sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope)));
    accepted(
      await sequencer.submit(
        items(
          h.append(
            h.grantIssue(
              "acme",
              { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend"] },
              admin(root),
            ),
          ).envelope,
        ),
      ),
    );
    // One event per batch, so the cache fills up and overflows several times over.
    const names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    for (const name of names) {
      accepted(
        await sequencer.submit(items(h.append(h.invite("acme", name, delegate(bridge, "scim"))).envelope)),
      );
    }
    // Accounts cached before an overflow are reloaded too: each adds a key, then a second.
    for (const name of names) {
      const k = testKey(`${name}-laptop`);
      accepted(await sequencer.submit(items(h.append(h.keyAdd("acme", name, k)).envelope)));
      accepted(
        await sequencer.submit(
          items(h.append(h.keyAdd("acme", name, testKey(`${name}-phone`), { by: self(k) })).envelope),
        ),
      );
    }
    await checkLog(database, { verifier: testVerifier(), expect: h });
  });

  it("keeps a batch larger than its capacity whole, and stays bounded afterwards", async () => {
    const cache = new StateCache(database.db, 3);
    accepted(await sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope)));
    accepted(
      await sequencer.submit(
        items(
          h.append(
            h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)),
          ).envelope,
        ),
      ),
    );
    const invites = ["a1", "a2", "a3", "a4", "a5"].map(
      (n) => h.append(h.invite("acme", n, delegate(bridge, "scim"))).envelope,
    );
    accepted(await sequencer.submit(items(...invites)));
    const events = invites.map((e) => e.event);
    await cache.preload(events);
    // Everything the batch reads is there, though it is more than the capacity.
    expect(cache.org("acme")?.id).toBe("acme");
    for (const n of ["a1", "a2", "a3", "a4", "a5"]) expect(cache.account("acme", n)?.status).toBeDefined();
    // The next preload that overflows starts over and loads what it reads, nothing else.
    await cache.preload([events[0]!]);
    expect(cache.size).toBe(2);
    expect(cache.org("acme")?.id).toBe("acme");
    expect(cache.account("acme", "a1")).toBeDefined();
  });
});
