// One sequencer per log, enforced by the database: on PostgreSQL a second server on the same
// database serves reads, refuses writes with NOT_LEADER, and takes over within seconds when the
// leader's lock connection dies; two processes that both believe they lead cannot fork the log
// (the compare-and-swap on the log head fences them). PGlite always leads.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTrustlogError } from "../../core/errors.js";
import type { Database } from "../../node/db.js";
import { SEQUENCER_LOCK_KEY, withDeadline } from "../../server/leader.js";
import type { Sequencer, SubmitResult } from "../../server/sequencer.js";
import { admin, History, testKey } from "../helpers/events.js";
import {
  checkLog,
  createTestLogDatabase,
  items,
  type LogView,
  startSequencer,
  type TestLogDatabase,
  testVerifier,
} from "../helpers/log-harness.js";
import { LogLayout } from "./log-layout.js";

const root = testKey("root");

async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

function indexOf(r: SubmitResult | undefined): number {
  if (!r || "error" in r) throw new Error(`expected success, got ${r && "error" in r ? r.error.code : r}`);
  return r.index;
}

describe("leadership on PostgreSQL", () => {
  let tdb: TestLogDatabase;
  let dbA: Database;
  let dbB: Database;
  let admin_: Database;
  let a: Sequencer;
  let b: Sequencer;
  let h: History;
  let seen: LogView | undefined;
  /** Where the committed batches put the History's events (an index leaf closes each). */
  let layout: LogLayout;

  const check = async () => {
    seen = await checkLog(admin_, {
      verifier: testVerifier(),
      expect: h,
      ...(seen ? { previous: seen } : {}),
    });
  };

  beforeEach(async () => {
    h = new History();
    seen = undefined;
    layout = new LogLayout();
    tdb = await createTestLogDatabase("postgres");
    admin_ = await tdb.open({ max: 2 });
    dbA = await tdb.open();
    dbB = await tdb.open();
  });
  afterEach(async () => {
    await a?.stop();
    await b?.stop();
    for (const d of [dbA, dbB, admin_]) await d.close().catch(() => {});
    await tdb.drop();
  });

  it("lets only one of two servers sequence, and the other take over when the leader's connection dies", async () => {
    ({ sequencer: a } = await startSequencer(dbA, { history: h }));
    ({ sequencer: b } = await startSequencer(dbB, { history: h }));
    expect(a.isLeader).toBe(true);
    expect(b.isLeader).toBe(false);

    const org = h.append(h.orgCreate("acme", { admins: [root] })).envelope;
    expect(() => b.submit(items(org))).toThrowError(expect.objectContaining({ code: "NOT_LEADER" }));
    expect(indexOf((await a.submit(items(org)))[0])).toBe(layout.batch(1)[0]);
    const first = [];
    for (let i = 0; i < 10; i++) first.push(h.append(h.invite("acme", `a${i}`, admin(root))).envelope);
    expect((await a.submit(items(...first))).map(indexOf)).toEqual(layout.batch(10));
    await check();

    // The leader's lock session dies (its process crashed, or the network cut it).
    const holders = await admin_.query<{ pid: number }>(
      `select pid from pg_locks where locktype = 'advisory' and granted and objid = ($1::bigint & 4294967295)::oid
       and database = (select oid from pg_database where datname = current_database())`,
      [SEQUENCER_LOCK_KEY],
    );
    expect(holders).toHaveLength(1);
    await admin_.query("select pg_terminate_backend($1)", [holders[0]!.pid]);
    const tookMs = await waitFor("B to take over", () => b.isLeader);
    console.log(`follower took over ${tookMs} ms after the leader's lock connection died`);
    await waitFor("A to notice", () => !a.isLeader);

    const second = [];
    for (let i = 0; i < 10; i++) second.push(h.append(h.invite("acme", `b${i}`, admin(root))).envelope);
    // B rebuilt the index from the state tables when it took over, and goes on after A's last
    // index leaf.
    expect((await b.submit(items(...second))).map(indexOf)).toEqual(layout.batch(10));
    expect(() => a.submit(items(h.invite("acme", "late", admin(root))))).toThrowError(
      expect.objectContaining({ code: "NOT_LEADER" }),
    );
    // A resubmission of something A sequenced is found by B as a duplicate.
    const dup = (await b.submit(items(first[3]!)))[0];
    expect(dup && !("error" in dup) && dup.duplicate).toBe(true);
    expect(indexOf(dup)).toBe(layout.index(1 + 3));
    await check();

    // A, still alive, is now the follower: when B stops, A takes over again.
    await b.stop();
    await waitFor("A to lead again", () => a.isLeader);
    const third = h.append(h.invite("acme", "c0", admin(root))).envelope;
    expect(indexOf((await a.submit(items(third)))[0])).toBe(layout.batch(1)[0]);
    await check();
  });

  it("fences two servers that both believe they lead: the log head's compare-and-swap refuses the stale one", async () => {
    // Different lock keys stand in for a split brain: both acquire "the" lock.
    ({ sequencer: a } = await startSequencer(dbA, { history: h, lockKey: "1001" }));
    ({ sequencer: b } = await startSequencer(dbB, { history: h, lockKey: "1002" }));
    expect(a.isLeader && b.isLeader).toBe(true);

    expect(
      indexOf((await a.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope)))[0]),
    ).toBe(layout.batch(1)[0]);
    // B's cached head (size 0) is stale: its batch must not commit.
    const x = h.invite("acme", "x", admin(root));
    const refused = (await b.submit(items(x)))[0];
    expect(refused && "error" in refused && isTrustlogError(refused.error, "NOT_LEADER")).toBe(true);
    await check();
    // B stepped down, dropped its caches and, leading again, works from the real head.
    await waitFor("B to lead again", () => b.isLeader);
    h.append(x);
    expect(indexOf((await b.submit(items(x)))[0])).toBe(layout.batch(1)[0]);
    // And now A is the stale one.
    const y = h.invite("acme", "y", admin(root));
    const refusedA = (await a.submit(items(y)))[0];
    expect(refusedA && "error" in refusedA && refusedA.error.code).toBe("NOT_LEADER");
    await check();
  });
});

describe("leadership on PGlite", () => {
  it("always leads: one process owns the data directory", async () => {
    const tdb = await createTestLogDatabase("pglite");
    const database = await tdb.open();
    const { sequencer } = await startSequencer(database);
    expect(sequencer.isLeader).toBe(true);
    await sequencer.stop();
    expect(sequencer.isLeader).toBe(false);
    await database.close();
    await tdb.drop();
  });
});

describe("the lock connection's deadline", () => {
  it("lets an answer that arrived while the event loop was blocked past the deadline win", async () => {
    const { createTestDatabase } = await import("../helpers/db.js");
    const postgres = (await import("postgres")).default;
    const db = await createTestDatabase("leader_deadline");
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const other = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await sql`select 1`; // connected
      await other`select 1`;
      // Answered 200 ms from now, past its 100 ms deadline, while the process is blocked.
      const answer = withDeadline(
        sql`select 42 as n from pg_sleep(0.2)`,
        100,
        "the lock connection did not answer",
      );
      // Resume from an I/O callback (another connection's answer), as the server mostly runs,
      // once the query has gone out: timers then come before the next poll for I/O.
      await other`select pg_sleep(0.05)`;
      // A loaded machine: the process does not run for 2 s, well past the 100 ms deadline,
      // while PostgreSQL answers at once.
      const until = Date.now() + 2000;
      while (Date.now() < until) {}
      expect((await answer)[0]).toEqual({ n: 42 });
      // A connection that really does not answer still fails at the deadline.
      await expect(
        withDeadline(new Promise(() => {}), 50, "the lock connection did not answer"),
      ).rejects.toThrow(/did not answer/);
    } finally {
      await sql.end();
      await other.end();
      await db.drop();
    }
  });
});
