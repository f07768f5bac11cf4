// The sequencer's state cache, on PostgreSQL and on PGlite: overflowing its capacity must not
// lose records it held. Each scenario runs the real sequencer with a tiny cache, so every few
// events the cache starts over and has to reload the org and accounts from the database.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Database } from "../../node/db.js";
import type { Sequencer, SubmitResult } from "../../server/sequencer.js";
import { StateCache } from "../../server/storage/state.js";
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
    // The org, the grant the delegate acts under, and the account.
    expect(cache.size).toBe(3);
    expect(cache.org("acme")?.id).toBe("acme");
    expect(cache.grant("acme", "scim")?.delegate).toBe(bridge.pub);
    expect(cache.account("acme", "a1")).toBeDefined();
  });
});

// Ids are public strings from [A-Za-z0-9._@+-]: "__proto__", "constructor", "toString" and
// "hasOwnProperty" are valid grant and key ids. Stored, reloaded after a restart and after the
// cache overflows, they must be judged by the server exactly as a replay judges them.
describe.each(BACKENDS)("ids that are JavaScript property names, on %s", (backend) => {
  const NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty"];
  let tdb: TestLogDatabase;
  let database: Database;

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
  });
  afterEach(async () => {
    await database.close().catch(() => {});
    await tdb.drop();
  });

  it("survive a restart and a cache overflow, and the server agrees with replay on every later event", async () => {
    const h = new History();
    let { sequencer } = await startSequencer(database, { history: h, stateCacheSize: 3 });
    /** Submits to the server and applies locally; both must decide the same way. */
    const both = async (env: Parameters<History["append"]>[0]): Promise<string> => {
      let local = "accepted";
      try {
        h.append(env);
      } catch (e) {
        local = (e as { code: string }).code;
      }
      const [r] = await sequencer.submit(items(env));
      const server = r && "error" in r ? r.error.code : "accepted";
      expect(server, `${env.event.type} ${env.event.subject}`).toBe(local);
      return server;
    };
    expect(await both(h.orgCreate("acme", { admins: [root] }))).toBe("accepted");
    for (const id of NAMES) {
      expect(
        await both(
          h.grantIssue("acme", { id, delegate: bridge, ops: ["account.invite", "key.revoke"] }, admin(root)),
        ),
      ).toBe("accepted");
    }
    for (const [i, id] of NAMES.entries()) {
      expect(await both(h.invite("acme", `u${i}`, delegate(bridge, id)))).toBe("accepted");
      expect(await both(h.keyAdd("acme", `u${i}`, testKey(`u${i}-key`), { id }))).toBe("accepted");
    }
    // Restart: a new sequencer reloads everything from the database.
    await sequencer.stop();
    ({ sequencer } = await startSequencer(database, { history: h, stateCacheSize: 3 }));
    for (const [i, id] of NAMES.entries()) {
      // A second key under the same id is refused by both; the first is revoked through the
      // grant of the same name, then revoking it again is refused by both.
      expect(
        await both(h.keyAdd("acme", `u${i}`, testKey(`u${i}-other`), { id, by: self(testKey(`u${i}-key`)) })),
      ).toBe("KEY_EXISTS");
      expect(await both(h.keyRevoke("acme", `u${i}`, id, delegate(bridge, id)))).toBe("accepted");
      expect(await both(h.keyRevoke("acme", `u${i}`, id, delegate(bridge, NAMES[(i + 1) % 4]!)))).toBe(
        "KEY_REVOKED",
      );
    }
    expect(await both(h.grantRevoke("acme", "constructor", admin(root)))).toBe("accepted");
    expect(await both(h.invite("acme", "late", delegate(bridge, "constructor")))).toBe("GRANT_REVOKED");
    expect(await both(h.invite("acme", "late", delegate(bridge, "valueOf")))).toBe("GRANT_UNKNOWN");
    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier(), expect: h });
  });
});
