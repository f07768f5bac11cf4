// The sequencer loads the state of the accounts a batch touches before deciding it. For one org
// of many accounts that load must read those accounts only. The earlier query,
// `org = any(…) and id = any(…)`, was planned with the org alone as the index condition when
// the statistics underestimated the org (a table not analyzed yet, or an org grown since), and
// then read every account of the org: 100 accounts of a 10^5-account org took 64 ms, against
// 1.5 ms looked up pair by pair (EXPLAIN ANALYZE, bench_prepared_100000 just after seeding).
// Rows read are counted by PostgreSQL's statistics views.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../node/db.js";
import { migrateLogDatabase } from "../../server/storage/log-store.js";
import { loadAccounts } from "../../server/storage/state.js";
import { createTestDatabase, type TestDatabase, tableReads } from "../helpers/db.js";

const ORG_ACCOUNTS = 100_000;

describe("loading accounts' state on PostgreSQL", () => {
  let tdb: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    tdb = await createTestDatabase("stateidx");
    database = await openDatabase({ url: tdb.url, max: 1 });
    await migrateLogDatabase(database);
    // Rows written straight into the state tables (what matters here is the rows, not how the
    // log made them): 200 orgs of 50 accounts, analyzed; then one org of 100,000 accounts and a
    // small one, after the statistics were taken, as while a large org is being provisioned.
    // Autovacuum is off for these tables so that no analyze catches up during the test.
    const fill = async (orgs: string, perOrg: number) => {
      await database.query(
        `insert into accounts (org, id, status, invite_key, ever_active, head_seq, head_leaf_hash, head_index)
         select o, 'u' || g, 'invited', '\\x00'::bytea, false, 0, '\\x00'::bytea, g
         from unnest($1::text[]) o, generate_series(1, $2::int) g`,
        [orgs.split(","), perOrg],
      );
      await database.query(
        `insert into account_keys (org, account, key_id, alg, use, pub, status, added_index)
         select o, 'u' || g, 'k1', 'ed25519', 'sign', '\\x00'::bytea, 'active', g
         from unnest($1::text[]) o, generate_series(1, $2::int) g`,
        [orgs.split(","), perOrg],
      );
    };
    for (const t of ["accounts", "account_keys"])
      await database.query(`alter table ${t} set (autovacuum_enabled = false)`);
    await fill(Array.from({ length: 200 }, (_, i) => `o${i}`).join(","), 50);
    await database.query("analyze accounts");
    await database.query("analyze account_keys");
    await fill("big", ORG_ACCOUNTS);
    await fill("small", 10);
  });
  afterAll(async () => {
    await database.close();
    await tdb.drop();
  });

  it("reads the accounts asked for, not the whole org", async () => {
    const asked = [
      ...Array.from({ length: 150 }, (_, i) => ({ org: "big", id: `u${1 + i * 661}` })),
      { org: "big", id: "nobody" },
      { org: "small", id: "u3" },
      // An org and an id that exist, but not as a pair.
      { org: "small", id: "u19999" },
    ];
    // Several calls, so that a prepared statement's generic plan is measured too.
    for (let round = 0; round < 8; round++) {
      const before = (await tableReads(database, "accounts")).tuples;
      const loaded = await loadAccounts(database.db, asked);
      expect([...loaded.keys()].length).toBe(151);
      expect(loaded.has("big nobody")).toBe(false);
      expect(loaded.has("small u19999")).toBe(false);
      expect(loaded.get("small u3")?.keys.size).toBe(1);
      expect(loaded.get("big u662")?.keys.size).toBe(1);
      const read = (await tableReads(database, "accounts")).tuples - before;
      // Each pair is an index lookup: an entry and a row per account found. Reading the org
      // would be 100,000 of each.
      // (account_keys is left out: at this size PostgreSQL rightly prefers to scan it whole.)
      expect(read).toBeLessThan(4 * asked.length);
    }
  });
});
