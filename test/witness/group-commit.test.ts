// Group commit (witness/group-commit.ts) on PostgreSQL: concurrent add-checkpoint requests of
// different logs share a commit, and still no cosignature leaves before its state is durable;
// a log's requests in one group are ordered like separate commits; a failed commit answers
// none of its group with a cosignature.
//
// To put requests in one group for sure, a separate connection holds a row lock on a "blocker"
// log: the blocker's request then holds the one commit in flight, every request that arrives
// meanwhile queues behind it (the `beforeUpdate` hook counts them), and all of those go in the
// next commit once the lock is released.

import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import { openDatabase, runMigrations } from "../../node/db.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { GroupCommit, type StateMove } from "../../witness/group-commit.js";
import { type RunningWitness, startWitness, WITNESS_MIGRATIONS } from "../../witness/main.js";
import { WitnessStore } from "../../witness/store.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { TestLog, tempDir, witnessConfig, witnessKey } from "./helpers.js";

const LOGS = 12;

describe("group commit of add-checkpoint (PostgreSQL)", () => {
  let db: TestDatabase;
  let w: RunningWitness;
  let sql: postgres.Sql;
  const key = witnessKey("group.witness", 41);
  const logs = Array.from({ length: LOGS }, (_, i) => new TestLog(`example.com/group/${i}`, 200 + i));
  const blocker = new TestLog("example.com/group/blocker", 199);
  let queued = 0;

  beforeAll(async () => {
    db = await createTestDatabase("witness_group");
    const cfg = witnessConfig({
      dir: tempDir(),
      key,
      logs: [...logs, blocker].map((l) => ({ origin: l.origin, vkeys: [l.vkey] })),
      databaseUrl: db.url,
    });
    w = await startWitness(parseWitnessConfig(cfg), {
      hooks: {
        async beforeUpdate() {
          queued++;
        },
      },
    });
    sql = postgres(db.url, { max: 2, onnotice: () => {} });
  });

  afterAll(async () => {
    await sql?.end();
    await w?.close();
    await db?.drop();
  });

  const post = async (body: string) => {
    const res = await fetch(`${w.url}/add-checkpoint`, { method: "POST", body });
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };
  const add = async (log: TestLog, oldSize: number, size = log.size) =>
    post(formatAddCheckpoint(oldSize, await log.proof(oldSize, size), await log.note(size)));
  const stats = () => ({ ...(w.witness.committer as GroupCommit).stats });
  const storedSize = async (origin: string) =>
    Number((await sql`select size from witness_logs where origin = ${origin}`)[0]!.size);

  /**
   * Runs `during` while the blocker's request holds the commit in flight, and releases it once
   * `expected` more requests have queued behind it. Returns what `during` returned.
   */
  async function inOneGroup<T>(expected: number, during: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => {
      locked = r;
    });
    const holder = sql.begin(async (tx) => {
      await tx`select 1 from witness_logs where origin = ${blocker.origin} for update`;
      locked();
      await released;
    });
    await isLocked;
    const old = blocker.size;
    blocker.append(1);
    queued = 0;
    const blocked = add(blocker, old);
    while (queued < 1) await new Promise((r) => setTimeout(r, 5));
    const results = during();
    while (queued < 1 + expected) await new Promise((r) => setTimeout(r, 5));
    // The hook runs just before a request queues its move: let the last ones reach the queue.
    await new Promise((r) => setTimeout(r, 50));
    const before = stats();
    release();
    await holder;
    expect((await blocked).status).toBe(200);
    const out = await results;
    const after = stats();
    // The blocker's commit, then one for everything that queued behind it.
    expect(after.groups - before.groups).toBe(1);
    expect(after.moves - before.moves).toBe(expected);
    return out;
  }

  it("cosigns many concurrent requests of different logs, each durable before its answer, with fewer commits than cosignatures", async () => {
    const start = stats();
    const vkey = parseVerifierKey(key.vkey);
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        logs.map(async (log) => {
          const old = log.size;
          log.append(1 + (round % 3));
          const size = log.size;
          const r = await add(log, old, size);
          expect(r.status).toBe(200);
          // Read at once, through another connection: the state is already there.
          const [row] = await sql`select size, root, note from witness_logs where origin = ${log.origin}`;
          expect(Number(row!.size)).toBe(size);
          expect(equalBytes(new Uint8Array(row!.root as Buffer), await log.root(size))).toBe(true);
          // The stored note is the one cosigned: the log's signature and exactly this cosignature.
          expect(row!.note as string).toBe(`${await log.note(size)}${r.text}`);
          const opened = openNote(`${await log.checkpointBody(size)}\n${r.text}`, [vkey]);
          expect(opened.verified).toHaveLength(1);
        }),
      );
    }
    const end = stats();
    expect(end.moves - start.moves).toBe(5 * LOGS);
    expect(end.groups - start.groups).toBeLessThan(5 * LOGS);
  });

  it("puts requests that arrive during a commit in one group", async () => {
    const results = await inOneGroup(LOGS, () =>
      Promise.all(
        logs.map(async (log) => {
          const old = log.size;
          log.append(2);
          return add(log, old);
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual(logs.map(() => 200));
    for (const log of logs) expect(await storedSize(log.origin)).toBe(log.size);
  });

  it("two requests of one log from the same old size in one group: one 200, one 409 with the winner's size", async () => {
    const [a, b, other] = logs;
    const old = a!.size;
    const shorter = a!.size + 3;
    a!.append(5);
    const longer = a!.size;
    const otherOld = other!.size;
    other!.append(1);
    const bodies = [
      formatAddCheckpoint(old, await a!.proof(old, shorter), await a!.note(shorter)),
      formatAddCheckpoint(old, await a!.proof(old, longer), await a!.note(longer)),
    ];
    const [r1, r2, r3] = await inOneGroup(3, async () => {
      const first = post(bodies[0]!);
      // Queue order decides the winner: the shorter checkpoint queues first.
      while (queued < 2) await new Promise((r) => setTimeout(r, 2));
      return Promise.all([first, post(bodies[1]!), add(other!, otherOld)]);
    });
    expect(r1!.status).toBe(200);
    expect(r2!.status).toBe(409);
    expect(r2!.type).toBe("text/x.tlog.size");
    expect(r2!.text).toBe(`${shorter}\n`);
    // The others of the group are not held back by the lost swap.
    expect(r3!.status).toBe(200);
    expect(await storedSize(a!.origin)).toBe(shorter);
    expect(await storedSize(other!.origin)).toBe(other!.size);
    expect(await storedSize(b!.origin)).toBe(b!.size);
    // The loser's log carries on from the winner's size.
    expect((await add(a!, shorter, longer)).status).toBe(200);
  });

  it("a failed commit answers no request of its group with a cosignature, and moves none of them", async () => {
    const poisoned = logs[3]!;
    await sql.unsafe(`
      create function poison() returns trigger language plpgsql as $$
      begin raise exception 'poisoned move'; end $$;
      create trigger poison before update on witness_logs for each row
        when (new.origin = '${poisoned.origin}') execute function poison();`);
    const group = logs.slice(2, 8);
    const olds = group.map((l) => l.size);
    for (const log of group) log.append(1);
    try {
      const results = await inOneGroup(group.length, () =>
        Promise.all(group.map((log, i) => add(log, olds[i]!))),
      );
      for (const r of results) {
        expect(r.status).toBe(500);
        expect(r.text).not.toMatch(/^—/m);
      }
      for (const [i, log] of group.entries()) expect(await storedSize(log.origin)).toBe(olds[i]);
    } finally {
      await sql.unsafe("drop trigger poison on witness_logs; drop function poison();");
    }
    // Nothing was recorded, so the same requests succeed now.
    const again = await Promise.all(group.map((log, i) => add(log, olds[i]!)));
    expect(again.map((r) => r.status)).toEqual(group.map(() => 200));
  });
});

describe("WitnessStore.advanceMany (PostgreSQL)", () => {
  let db: TestDatabase;
  let store: WitnessStore;
  let close: () => Promise<void>;
  let query: (text: string) => Promise<unknown>;
  const root = (n: number) => new Uint8Array(32).fill(n);
  const move = (origin: string, from: number, to: number) => ({
    origin,
    from: { size: from, root: root(from) },
    to: { size: to, root: root(to), note: `${origin} ${to}\n` },
    audited: false,
  });

  beforeAll(async () => {
    db = await createTestDatabase("witness_group_store");
    const database = await openDatabase({ url: db.url, max: 2 });
    close = () => database.close();
    query = (text) => database.client!.unsafe(text);
    await runMigrations(database, WITNESS_MIGRATIONS);
    store = new WitnessStore(database);
    await store.ensureLogs(["a", "b", "c"]);
    // Start every log at size 1 with the test's root of 1.
    await database.query("update witness_logs set size = 1, root = $1", [root(1)]);
  });

  afterAll(async () => {
    await close?.();
    await db?.drop();
  });

  it("runs a group's moves in order: a second move of a log sees the first", async () => {
    const results = await store.advanceMany([
      move("a", 1, 3),
      move("a", 1, 5), // from a state the first move left: loses
      move("b", 1, 2),
      move("a", 3, 6), // from the state the first move made: wins
      move("c", 9, 10), // from a state it never had: loses
    ]);
    expect(results).toEqual([true, false, true, true, false]);
    expect((await store.get("a"))?.size).toBe(6);
    expect((await store.get("b"))?.size).toBe(2);
    expect((await store.get("c"))?.size).toBe(1);
    expect((await store.get("a"))?.note).toBe("a 6\n");
  });

  it("moves nothing when a later statement of the group fails", async () => {
    // A move to size 13 fails, after moves of the same group (an earlier round) that did not.
    await query(`
      create function no13() returns trigger language plpgsql as $$
      begin if new.size = 13 then raise exception 'no 13'; end if; return new; end $$;
      create trigger no13 before update on witness_logs for each row execute function no13();`);
    try {
      await expect(store.advanceMany([move("b", 2, 4), move("a", 6, 8), move("a", 8, 13)])).rejects.toThrow();
    } finally {
      await query("drop trigger no13 on witness_logs; drop function no13();");
    }
    expect((await store.get("a"))?.size).toBe(6);
    expect((await store.get("b"))?.size).toBe(2);
    expect(await store.advanceMany([move("b", 2, 4), move("a", 6, 8), move("a", 8, 13)])).toEqual([
      true,
      true,
      true,
    ]);
  });

  it("a move from the stored size but another root loses, as does a move of a refused log; a winner's root and note are stored byte for byte", async () => {
    // c is still at size 1 with root(1); b at 4.
    const otherRoot = { ...move("c", 1, 2), from: { size: 1, root: root(7) } };
    expect(await store.advanceMany([otherRoot])).toEqual([false]);
    expect(await store.advanceMany([otherRoot, move("b", 4, 5)])).toEqual([false, true]);
    await query("update witness_logs set refused = true where origin = 'c'");
    expect(await store.advanceMany([move("c", 1, 2)])).toEqual([false]);
    await query("update witness_logs set refused = false where origin = 'c'");
    const before = await store.get("c");
    expect(before?.size).toBe(1);
    expect(equalBytes(before!.root, root(1))).toBe(true);
    expect(await store.advanceMany([move("c", 1, 2)])).toEqual([true]);
    const after = await store.get("c");
    expect(after?.size).toBe(2);
    expect(equalBytes(after!.root, root(2))).toBe(true);
    expect(after?.note).toBe("c 2\n");
  });

  it("works the same with prepared statements turned off by ?prepare=false on the URL (docs/witness.md)", async () => {
    const url = new URL(db.url);
    url.searchParams.set("prepare", "false");
    const plain = await openDatabase({ url: url.toString(), max: 1 });
    try {
      expect(plain.client!.options.prepare).toBe(false);
      const unprepared = new WitnessStore(plain);
      expect(await unprepared.advanceMany([move("c", 2, 3), move("c", 9, 10)])).toEqual([true, false]);
      expect((await unprepared.get("c"))?.size).toBe(3);
    } finally {
      await plain.close();
    }
  });
});

describe("GroupCommit (a store that answers when told)", () => {
  const move = (origin: string, size: number): StateMove => ({
    origin,
    from: { size: size - 1, root: new Uint8Array(32) },
    to: { size, root: new Uint8Array(32), note: "" },
    audited: false,
  });

  function fakeStore() {
    const calls: { moves: readonly StateMove[]; settle: (r: boolean[] | Error) => void }[] = [];
    return {
      calls,
      store: {
        advanceMany: (moves: readonly StateMove[]) =>
          new Promise<boolean[]>((resolve, reject) =>
            calls.push({ moves, settle: (r) => (r instanceof Error ? reject(r) : resolve(r)) }),
          ),
      },
    };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  it("commits a lone move at once, and what arrives meanwhile in the next commit, answering only after it", async () => {
    const { calls, store } = fakeStore();
    const gc = new GroupCommit(store);
    const answered: string[] = [];
    const first = gc.commit(move("a", 1)).then((ok) => answered.push(`a1 ${ok}`));
    expect(calls).toHaveLength(1);
    const rest = [move("b", 1), move("c", 1), move("a", 2)].map((m) =>
      gc.commit(m).then((ok) => answered.push(`${m.origin}${m.to.size} ${ok}`)),
    );
    await tick();
    expect(calls).toHaveLength(1);
    expect(answered).toEqual([]);
    calls[0]!.settle([true]);
    await first;
    expect(answered).toEqual(["a1 true"]);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.moves.map((m) => `${m.origin}${m.to.size}`)).toEqual(["b1", "c1", "a2"]);
    await tick();
    expect(answered).toHaveLength(1);
    calls[1]!.settle([true, false, true]);
    await Promise.all(rest);
    expect(answered.slice(1).sort()).toEqual(["a2 true", "b1 true", "c1 false"]);
    expect(gc.stats).toEqual({ groups: 2, moves: 4, largest: 3 });
  });

  it("a failed commit rejects every move of its group, and the next group goes on", async () => {
    const { calls, store } = fakeStore();
    const gc = new GroupCommit(store);
    const lone = gc.commit(move("a", 1));
    const group = [gc.commit(move("b", 1)), gc.commit(move("c", 1))];
    const boom = new Error("commit failed");
    calls[0]!.settle(boom);
    await expect(lone).rejects.toBe(boom);
    calls[1]!.settle(boom);
    for (const p of group) await expect(p).rejects.toBe(boom);
    const after = gc.commit(move("b", 1));
    calls[2]!.settle([true]);
    expect(await after).toBe(true);
  });

  it("with two commits in flight, never puts moves of one log in both", async () => {
    const { calls, store } = fakeStore();
    const gc = new GroupCommit(store, { maxInFlight: 2 });
    const results = [gc.commit(move("a", 1)), gc.commit(move("a", 2)), gc.commit(move("b", 1))];
    // a1 alone first; then a second commit may start, but without a2 (a's move is in flight).
    expect(calls.map((c) => c.moves.map((m) => `${m.origin}${m.to.size}`))).toEqual([["a1"], ["b1"]]);
    calls[1]!.settle([true]);
    await tick();
    expect(calls).toHaveLength(2);
    calls[0]!.settle([true]);
    await tick();
    expect(calls[2]!.moves.map((m) => `${m.origin}${m.to.size}`)).toEqual(["a2"]);
    calls[2]!.settle([false]);
    expect(await Promise.all(results)).toEqual([true, false, true]);
  });
});
