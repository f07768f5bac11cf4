// The log server's frequent reads are prepared statements (server/storage/prepared.ts): each
// pooled connection parses and describes one once, then every call is one round trip. Shown on
// one connection through pg_prepared_statements: every read is there after its first call, the
// set does not grow with the length of a list given (fixed texts), and `?prepare=false` on the
// URL turns preparing off with the same answers.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../node/db.js";
import { LogStore, migrateLogDatabase } from "../../server/storage/log-store.js";
import { loadAccounts, loadGrants, loadOrgs } from "../../server/storage/state.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, delegate, History, testKey } from "../helpers/events.js";
import { items, startSequencer } from "../helpers/log-harness.js";

const root = testKey("root");
const bridge = testKey("bridge");

describe("the log server's reads on PostgreSQL", () => {
  let tdb: TestDatabase;
  let size = 0;
  const leafHashes: Uint8Array[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase("prep");
    const database = await openDatabase({ url: tdb.url, max: 2 });
    await migrateLogDatabase(database);
    const h = new History();
    const { sequencer, store } = await startSequencer(database, { history: h });
    const envs = [
      h.append(h.orgCreate("acme", { admins: [root] })).envelope,
      h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)))
        .envelope,
      ...["alice", "bob", "carol"].map(
        (a) => h.append(h.invite("acme", a, delegate(bridge, "scim"))).envelope,
      ),
    ];
    for (const env of envs) {
      const [r] = await sequencer.submit(items(env));
      if (!r || "error" in r) throw new Error(`refused: ${JSON.stringify(r)}`);
      leafHashes.push(r.leafHash);
    }
    await sequencer.stop();
    size = await store.treeSize();
    await database.close();
  });
  afterAll(async () => {
    await tdb.drop();
  });

  /** Every read the server makes often, with lists of `n` items where a read takes a list. */
  async function readAll(database: Database, n: number): Promise<unknown[]> {
    const store = new LogStore(database);
    const accounts = ["alice", "bob", "carol", "dave"].slice(0, n).map((id) => ({ org: "acme", id }));
    return [
      await store.head(),
      await store.treeSize(),
      await store.latestCheckpoint(),
      await store.checkpointAt(size),
      await store.readTile(0, 0),
      await store.readEntries(0, n + 1),
      await store.getEntry(n),
      [...(await store.getEntries([...Array(n).keys()]))],
      await store.findLeaf(leafHashes[n]!),
      [...(await store.findLeaves(leafHashes.slice(0, n)))],
      await store.accountEvents("acme", "alice"),
      await store.authorityEvents("acme"),
      await store.orgEvents("acme"),
      await store.getAccount("acme", "bob"),
      [...(await loadOrgs(database.db, ["acme", "nobody", "x"].slice(0, n)))],
      [
        ...(await loadGrants(
          database.db,
          [
            { org: "acme", id: "scim" },
            { org: "acme", id: "none" },
          ].slice(0, n),
        )),
      ],
      [...(await loadAccounts(database.db, accounts))],
    ];
  }

  const preparedTexts = async (database: Database) =>
    (
      await database.query<{ statement: string }>(
        "select statement from pg_prepared_statements order by statement",
      )
    ).map((r) => r.statement);

  it("prepares each read once per connection, whatever the length of its lists", async () => {
    // One connection, so pg_prepared_statements shows everything the reads prepared.
    const database = await openDatabase({ url: tdb.url, max: 1 });
    try {
      const first = await readAll(database, 1);
      const texts = await preparedTexts(database);
      for (const table of [
        "log_head",
        "checkpoints",
        "cosignatures",
        "tiles",
        "entries",
        "orgs",
        "org_admins",
      ]) {
        expect(texts.some((t) => t.includes(`from "${table}"`))).toBe(true);
      }
      expect(texts.some((t) => t.includes(`from "grants"`))).toBe(true);
      expect(texts.some((t) => t.includes(`from "accounts"`))).toBe(true);
      expect(texts.some((t) => t.includes(`from "account_keys"`))).toBe(true);
      // Lists of other lengths reuse the same statements.
      for (const n of [2, 3, 4]) await readAll(database, n);
      expect(await preparedTexts(database)).toEqual(texts);
      expect(await readAll(database, 1)).toEqual(first);
    } finally {
      await database.close();
    }
  });

  it("answers the same with preparing turned off by ?prepare=false, and prepares nothing", async () => {
    // One handle with preparing on, used for every length: a statement that kept a value of
    // its first call (a value built into the query instead of a placeholder) answers the later
    // calls wrongly. A fresh handle with preparing off each time is the reference.
    const on = await openDatabase({ url: tdb.url, max: 1 });
    const url = new URL(tdb.url);
    url.searchParams.set("prepare", "false");
    try {
      for (const n of [1, 3, 2]) {
        const off = await openDatabase({ url: url.toString(), max: 1 });
        try {
          const answers = await readAll(off, n);
          expect(await readAll(on, n)).toEqual(answers);
          // Not vacuous: the reads found the log.
          expect(answers[1]).toBe(size);
          expect(answers[4]).toBeInstanceOf(Uint8Array);
          expect(await preparedTexts(off)).toEqual([]);
        } finally {
          await off.close();
        }
      }
    } finally {
      await on.close();
    }
  });
});
