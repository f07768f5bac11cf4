// The sequencer, on PostgreSQL and on PGlite: every event of a batch is decided on its own and
// in order, nothing is acknowledged before its batch commits, a failed commit publishes nothing,
// and the whole log re-checks (checkLog) after every step.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { equalBytes, toBase64 } from "../../core/bytes.js";
import { isIndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { isTrustlogError } from "../../core/errors.js";
import type { Envelope } from "../../core/event.js";
import { openNote } from "../../core/note.js";
import { checkInclusion } from "../../core/proof.js";
import type { Database } from "../../node/db.js";
import type { Sequencer, SequencerFaults, SubmitOk, SubmitResult } from "../../server/sequencer.js";
import { ChainIndexCache } from "../../server/storage/chain-index.js";
import { LogStore } from "../../server/storage/log-store.js";
import { admin, delegate, History, self, testKey } from "../helpers/events.js";
import {
  BACKENDS,
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
const bridge = testKey("bridge");

function ok(r: SubmitResult | undefined): SubmitOk {
  if (!r || "error" in r) throw new Error(`expected success, got ${r && "error" in r ? r.error.code : r}`);
  return r;
}

function code(r: SubmitResult | undefined): string | undefined {
  return r && "error" in r ? r.error.code : undefined;
}

function checkProof(r: SubmitOk): void {
  const c = parseCheckpoint(openNote(r.checkpoint, [testVerifier()]).body);
  expect(c.size).toBe(r.treeSize);
  checkInclusion(r.leafHash, r.index, r.treeSize, r.inclusion, c.root);
}

/**
 * Checks that the checkpoint of `size` ends with an index leaf: its last leaf is a log.index leaf
 * that says it sits at size − 1, whose root is the trie the server keeps for that size
 * (store.chainIndex) and, when given, the trie of chain heads the model expects. Returns it.
 */
async function expectIndexLeafAt(store: LogStore, size: number, want?: Uint8Array) {
  const last = await store.getEntry(size - 1);
  expect(last, `the checkpoint of size ${size} has a last leaf`).toBeDefined();
  expect(isIndexLeaf(last!.envelope)).toBe(true);
  const leaf = parseIndexLeaf(last!.envelope);
  expect(leaf.size).toBe(size - 1);
  expect(toBase64(leaf.root)).toBe(toBase64((await store.chainIndex.at(size)).root()));
  if (want) expect(toBase64(leaf.root)).toBe(toBase64(want));
  return leaf;
}

/** The same event under another signature set: its signatures reversed, minus those of `drop`. */
function resigned(env: Envelope, drop: string[] = []): Envelope {
  const sigs = [...env.sigs].reverse().filter((s) => !drop.includes(s.key));
  return { event: structuredClone(env.event), sigs: structuredClone(sigs) };
}

describe.each(BACKENDS)("sequencer on %s", (backend) => {
  let tdb: TestLogDatabase;
  let database: Database;
  let h: History;
  let store: LogStore;
  let sequencer: Sequencer;
  let seen: LogView | undefined;
  /** Where the committed batches put the History's events in the log (index leaves between). */
  let layout: LogLayout;

  /** Re-checks the whole log against the model history, and that it extends what was seen. */
  const check = async () => {
    seen = await checkLog(database, {
      verifier: testVerifier(),
      expect: h,
      ...(seen ? { previous: seen } : {}),
    });
  };

  /** An org with a delegate allowed to invite and suspend, already in the log. */
  const setupOrg = async () => {
    const setup = items(
      h.append(h.orgCreate("acme", { admins: [root] })).envelope,
      h.append(
        h.grantIssue(
          "acme",
          { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend"] },
          admin(root),
        ),
      ).envelope,
    );
    const results = await sequencer.submit(setup);
    for (const r of results) checkProof(ok(r));
    expect(results.map((r) => ok(r).index)).toEqual(layout.batch(2));
  };

  /** Stops the sequencer and starts another on the same store with test faults injected. */
  const restartWithFaults = async (faults: SequencerFaults) => {
    await sequencer.stop();
    ({ sequencer } = await startSequencer(database, { history: h, store, faults }));
  };

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
    h = new History();
    seen = undefined;
    layout = new LogLayout();
    ({ store, sequencer } = await startSequencer(database, { history: h }));
  });
  afterEach(async () => {
    await sequencer.stop();
    await database.close().catch(() => {});
    await tdb.drop();
  });

  it("refuses to sequence before it leads", async () => {
    const { Sequencer } = await import("../../server/sequencer.js");
    const { testSigner, TEST_ORIGIN } = await import("../helpers/log-harness.js");
    const idle = new Sequencer({ database, store, signer: testSigner(), origin: TEST_ORIGIN });
    expect(() => idle.submit(items(h.orgCreate("acme", { admins: [root] })))).toThrowError(
      expect.objectContaining({ code: "NOT_LEADER" }),
    );
  });

  it("answers each event of a batch mixing accepted, refused and duplicate events on its own", async () => {
    await setupOrg();
    await check();
    const orgCreate = h.entries[0]!.envelope;
    const alice = h.append(h.invite("acme", "alice", delegate(bridge, "scim"))).envelope;
    const forbidden = h.keyAdd("acme", "alice", testKey("evil"), { by: delegate(bridge, "scim") });
    const refusedCode = h.refuse(forbidden).code;
    const bob = h.append(h.invite("acme", "bob", delegate(bridge, "scim"))).envelope;
    const results = await sequencer.submit(items(alice, forbidden, orgCreate, alice, bob));
    // The batch appends two events (alice, bob), then its index leaf.
    const [aliceAt, bobAt] = layout.batch(2);
    expect([aliceAt, bobAt]).toEqual([layout.index(2), layout.index(3)]);

    expect(ok(results[0]).index).toBe(aliceAt);
    expect(ok(results[0]).duplicate).toBe(false);
    expect(code(results[1])).toBe(refusedCode);
    expect(refusedCode).toBe("DELEGATE_CANNOT_ADD_KEY");
    // Already in the log: the existing entry, proven against the new checkpoint.
    expect(ok(results[2])).toMatchObject({ index: layout.index(0), duplicate: true, treeSize: layout.size });
    // Twice in one batch: one entry, the second answer points at it.
    expect(ok(results[3])).toMatchObject({ index: aliceAt, duplicate: true });
    expect(ok(results[4])).toMatchObject({ index: bobAt, duplicate: false, treeSize: layout.size });
    for (const r of [results[0], results[2], results[3], results[4]]) checkProof(ok(r));
    await check();

    // A batch of nothing but duplicates publishes nothing new and still proves inclusion.
    const again = await sequencer.submit(items(bob));
    expect(ok(again[0])).toMatchObject({ index: bobAt, duplicate: true, treeSize: layout.size });
    checkProof(ok(again[0]));
    expect((await store.latestCheckpoint())!.size).toBe(layout.size);
    await check();
  });

  it("lets a later event of a batch build on an earlier one of the same batch", async () => {
    await setupOrg();
    const alice = testKey("alice-laptop");
    const batch = items(
      h.append(h.invite("acme", "alice", delegate(bridge, "scim"))).envelope,
      h.append(h.keyAdd("acme", "alice", alice)).envelope,
      h.append(h.keyAdd("acme", "alice", testKey("alice-phone"), { by: self(alice) })).envelope,
      h.append(h.suspend("acme", "alice", delegate(bridge, "scim"))).envelope,
    );
    const results = await sequencer.submit(batch);
    expect(results.map((r) => ok(r).index)).toEqual(layout.batch(4));
    expect(new Set(results.map((r) => ok(r).checkpoint)).size).toBe(1);
    // The model's state records hold History indices: compare them at the log's.
    expect(await store.getAccount("acme", "alice")).toEqual(layout.account(h.state.account("acme", "alice")));
    expect((await store.getAccount("acme", "alice"))!.status).toBe("suspended");
    await check();
  });

  it("lets exactly one of two concurrent writers to one subject win; the other gets CHAIN_CONFLICT", async () => {
    await setupOrg();
    const laptop = testKey("carol-laptop");
    const setup = await sequencer.submit(
      items(
        h.append(h.invite("acme", "carol", delegate(bridge, "scim"))).envelope,
        h.append(h.keyAdd("acme", "carol", laptop)).envelope,
      ),
    );
    expect(setup.map((r) => ok(r).index)).toEqual(layout.batch(2));
    // Both built on the same head (seq 2, prev = the first key.add).
    const a = h.keyAdd("acme", "carol", testKey("carol-a"), { by: self(laptop) });
    const b = h.keyAdd("acme", "carol", testKey("carol-b"), { by: self(laptop) });
    const [ra, rb] = await Promise.all([sequencer.submit(items(a)), sequencer.submit(items(b))]);
    const outcomes = [ra[0], rb[0]];
    const winners = outcomes.filter((r) => r && !("error" in r));
    expect(winners).toHaveLength(1);
    expect(outcomes.map(code).filter(Boolean)).toEqual(["CHAIN_CONFLICT"]);
    h.append(winners[0] === ra[0] ? a : b);
    // Whichever batch the winner went in, it was that batch's one new event.
    expect(ok(winners[0])).toMatchObject({ index: layout.batch(1)[0], treeSize: layout.size });
    await check();
  });

  it("throws QUEUE_FULL when the queue would pass its limit, and drains what it holds on stop", async () => {
    await sequencer.stop();
    ({ sequencer } = await startSequencer(database, {
      history: h,
      store,
      queueLimit: 3,
      batchDelayMs: 60_000,
    }));
    const first = sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope));
    const more = items(
      h.append(h.invite("acme", "u1", admin(root))).envelope,
      h.append(h.invite("acme", "u2", admin(root))).envelope,
    );
    const second = sequencer.submit(more);
    expect(sequencer.queueDepth).toBe(3);
    let thrown: unknown;
    try {
      await sequencer.submit(items(h.invite("acme", "u3", admin(root))));
    } catch (e) {
      thrown = e;
    }
    expect(isTrustlogError(thrown, "QUEUE_FULL")).toBe(true);
    await sequencer.stop();
    // stop() drains the queue (three events, under the batch size) in one batch.
    const [a, b, c] = layout.batch(3);
    expect((await first).map((r) => ok(r).index)).toEqual([a]);
    expect((await second).map((r) => ok(r).index)).toEqual([b, c]);
    await check();
  });

  it("loses nothing acknowledged and publishes nothing when a batch fails after signing, before commit", async () => {
    await setupOrg();
    await check();
    const before = await store.latestCheckpoint();
    let failures = 1;
    let signedButNotCommitted: number | undefined;
    await restartWithFaults({
      // failCheckpointButDoNotPersist: the checkpoint is signed and written in the transaction,
      // then the transaction dies. (Killing the backend with pg_terminate_backend here instead
      // trips a postgres-js 3.4.9 bug that poisons the pool, porsager/postgres#1155, so the
      // failure is raised in the transaction on both back ends.)
      beforeCommit: async (size) => {
        if (failures-- <= 0) return;
        signedButNotCommitted = size;
        throw new Error("injected failure before COMMIT");
      },
    });
    const batch = items(
      h.append(h.invite("acme", "dave", delegate(bridge, "scim"))).envelope,
      h.append(h.invite("acme", "erin", delegate(bridge, "scim"))).envelope,
    );
    const failed = await sequencer.submit(batch);
    // The checkpoint it signed covered the batch's two events and its index leaf.
    expect(signedButNotCommitted).toBe(layout.size + batch.length + 1);
    for (const r of failed) expect(r && "error" in r).toBe(true);
    // Nothing of the batch is visible: not the checkpoint, not the entries, not the state.
    expect((await store.latestCheckpoint())!.size).toBe(before!.size);
    expect(await store.findLeaf(batch[0]!.leafHash)).toBeUndefined();
    expect(await store.getAccount("acme", "dave")).toBeUndefined();
    // The model history has them; check against the log without them first.
    const model = h.entries.splice(2);
    await checkLog(database, { verifier: testVerifier(), expect: h, previous: seen! });
    h.entries.push(...model);

    // The submitter retries: same events, same indices, nothing lost or doubled.
    const retried = await sequencer.submit(batch);
    expect(retried.map((r) => ok(r).index)).toEqual(layout.batch(2));
    expect(retried.map((r) => ok(r).treeSize)).toEqual([layout.size, layout.size]);
    for (const r of retried) checkProof(ok(r));
    await check();
  });

  it("commits nothing when a statement after the head's swap fails, and the retry lands whole", async () => {
    // The batch's statements are pipelined on PostgreSQL: the swap succeeds here and the last
    // statement (the checkpoint's row) fails; the entries, tiles and state written between must
    // roll back with it, and the batch is answered as failed.
    await setupOrg();
    await check();
    const before = await store.head();
    const batch = items(
      h.append(h.invite("acme", "mia", delegate(bridge, "scim"))).envelope,
      h.append(h.invite("acme", "ned", delegate(bridge, "scim"))).envelope,
    );
    const size = layout.size + batch.length + 1;
    await database.query("insert into checkpoints (size, root, note) values ($1, $2, 'planted')", [
      size,
      new Uint8Array(32),
    ]);
    const failed = await sequencer.submit(batch);
    for (const r of failed) expect(code(r)).toBe("SEQUENCER_FAILED");
    expect(await store.head()).toEqual(before);
    expect(await store.findLeaf(batch[0]!.leafHash)).toBeUndefined();
    expect(await store.getAccount("acme", "mia")).toBeUndefined();
    expect(await database.query("select 1 from entries where idx >= $1", [before!.size])).toEqual([]);

    await database.query("delete from checkpoints where size = $1", [size]);
    const retried = await sequencer.submit(batch);
    expect(retried.map((r) => ok(r).index)).toEqual(layout.batch(2));
    for (const r of retried) checkProof(ok(r));
    await check();
  });

  it("throws away a batch prepared on top of one whose commit then failed, and decides its events again", async () => {
    await setupOrg();
    await check();
    const before = (await store.latestCheckpoint())!.size;
    // Batch A creates org beta; batch B, prepared while A commits, adds an admin to beta. A's
    // commit fails only once B has been decided on top of it: B must then be decided again
    // against the log without A (ORG_UNKNOWN), never committed on a head that does not exist.
    let bPreparedOn: (base: number) => void;
    const bPrepared = new Promise<number>((resolve) => {
      bPreparedOn = resolve;
    });
    const bases: number[] = [];
    let failures = 1;
    await restartWithFaults({
      prepared: (base, n) => {
        bases.push(base);
        if (n === 1 && bases.length === 2) bPreparedOn(base);
      },
      beforeCommit: async () => {
        if (failures-- <= 0) return;
        await bPrepared;
        throw new Error("injected failure before COMMIT");
      },
    });
    const beta = h.orgCreate("beta", { admins: [root] });
    // (An org event: it reads only the org, which A's decision cached, so that B is decided
    // without the database, which PGlite's single connection keeps for A's transaction.)
    const second = h.adminAdd("beta", testKey("second"), admin(root));
    const a = sequencer.submit(items(beta));
    // B is submitted once A is being committed (A was decided, the queue is empty again).
    await vi.waitFor(() => expect(bases.length).toBe(1));
    const b = sequencer.submit(items(second));
    expect(await bPrepared).toBe(before + 2); // on top of A: its event and its index leaf
    expect(code((await a)[0])).toBe("SEQUENCER_FAILED");
    expect(code((await b)[0])).toBe("ORG_UNKNOWN");
    expect(bases).toEqual([before, before + 2, before]);
    expect((await store.latestCheckpoint())!.size).toBe(before);
    await check();
  });

  it("answers an event resubmitted while its first copy commits as a duplicate of it, one leaf", async () => {
    await setupOrg();
    await check();
    const before = (await store.latestCheckpoint())!.size;
    let release: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const bases: number[] = [];
    let held = 1;
    await restartWithFaults({
      prepared: (base) => {
        bases.push(base);
        if (bases.length === 2) release();
      },
      // The first commit waits until the resubmission has been decided on top of it.
      beforeCommit: async () => {
        if (held-- > 0) await released;
      },
    });
    const dave = h.append(h.invite("acme", "dave", delegate(bridge, "scim"))).envelope;
    const first = sequencer.submit(items(dave));
    await vi.waitFor(() => expect(bases.length).toBe(1));
    const again = sequencer.submit(items(resigned(dave)));
    const [r1] = await first;
    const [r2] = await again;
    expect(bases).toEqual([before, before + 2]);
    expect(ok(r1).duplicate).toBe(false);
    expect(ok(r2).duplicate).toBe(true);
    expect(ok(r2).index).toBe(ok(r1).index);
    checkProof(ok(r2));
    expect((await store.latestCheckpoint())!.size).toBe(before + 2);
    layout.batch(1);
    await check();
  });

  it("sequences several batches across tile boundaries, each proof against its own checkpoint", async () => {
    await setupOrg();
    const all: Promise<SubmitResult[]>[] = [];
    for (let b = 0; b < 6; b++) {
      const batch = [];
      for (let i = 0; i < 97; i++)
        batch.push(h.append(h.invite("acme", `b${b}-u${i}`, delegate(bridge, "scim"))).envelope);
      all.push(sequencer.submit(items(...batch)));
    }
    const results = (await Promise.all(all)).flat();
    expect(results).toHaveLength(582);
    // However the sequencer cut the queue into batches (each answered with its own checkpoint,
    // in order), each batch takes the next indices and is closed by its index leaf.
    const expected: number[] = [];
    for (let i = 0; i < results.length; ) {
      const size = ok(results[i]).treeSize;
      let k = 0;
      while (i + k < results.length && ok(results[i + k]).treeSize === size) k++;
      expected.push(...layout.batch(k));
      expect(size).toBe(layout.size);
      i += k;
    }
    expect(results.map((r) => ok(r).index)).toEqual(expected);
    expect(expected).toEqual(h.entries.slice(2).map((_, i) => layout.index(i + 2)));
    for (const r of results) checkProof(ok(r));
    for (const size of layout.sizes) await expectIndexLeafAt(store, size);
    await check();
  });

  it("answers a resubmission under another signature set with the existing entry, appending nothing", async () => {
    const root2 = testKey("root-2");
    const root3 = testKey("root-3");
    // Two admins and a threshold of 1: the second admin's signature is welcome, not needed.
    const create = h.append(h.orgCreate("beta", { admins: [root, root2], threshold: 1 })).envelope;
    // Signed by the actor, the co-signing admin, and the new admin (proof of possession).
    const added = h.append(h.adminAdd("beta", root3, admin(root, root2))).envelope;
    expect(added.sigs).toHaveLength(3);
    const first = await sequencer.submit(items(create, added));
    const [, addedAt] = layout.batch(2);
    expect(ok(first[1])).toMatchObject({ index: addedAt, duplicate: false });
    await check();
    const size = layout.size;
    const stored = h.entries[1]!.leafHash;

    // The same signatures in another order (the log keeps them in key-byte order: same leaf),
    // and in another order without the co-signature above the threshold (another leaf).
    const reordered = resigned(added);
    const fewer = resigned(added, [root2.pub]);
    expect(reordered.sigs.map((x) => x.key)).not.toEqual(added.sigs.map((x) => x.key));
    expect(fewer.sigs).toHaveLength(2);
    expect(fewer.sigs.map((x) => x.key)).not.toEqual(items(fewer)[0]!.envelope.sigs.map((x) => x.key));
    expect(equalBytes(items(fewer)[0]!.leafHash, stored)).toBe(false);
    for (const variant of [reordered, fewer]) {
      const [r] = await sequencer.submit(items(variant));
      // The existing entry: its index and the stored leaf's hash, whatever was resubmitted.
      expect(ok(r)).toMatchObject({ index: addedAt, duplicate: true, treeSize: size });
      expect(toBase64(ok(r).leafHash)).toBe(toBase64(stored));
      checkProof(ok(r));
    }
    // All of them in one batch: still that one entry.
    for (const r of await sequencer.submit(items(fewer, added, reordered))) {
      expect(ok(r)).toMatchObject({ index: addedAt, duplicate: true, treeSize: size });
      expect(toBase64(ok(r).leafHash)).toBe(toBase64(stored));
    }
    expect(await store.treeSize()).toBe(size);
    expect((await store.latestCheckpoint())!.size).toBe(size);

    // A new event and its variant in the same batch: the first is appended, the second points at it.
    const grant = h.grantIssue(
      "beta",
      { id: "g1", delegate: bridge, ops: ["account.invite"] },
      admin(root, root2),
    );
    const variant = resigned(grant, [root2.pub]);
    const pair = await sequencer.submit(items(variant, grant));
    // The variant came first, so its signature set is the one logged.
    const logged = h.append(variant);
    const [grantAt] = layout.batch(1);
    expect(ok(pair[0])).toMatchObject({ index: grantAt, duplicate: false, treeSize: layout.size });
    expect(ok(pair[1])).toMatchObject({ index: grantAt, duplicate: true, treeSize: layout.size });
    for (const r of pair) expect(toBase64(ok(r).leafHash)).toBe(toBase64(logged.leafHash));
    await check();
  });

  it("ends every checkpoint it publishes with an index leaf over the trie of chain heads", async () => {
    const published: number[] = [];
    await sequencer.stop();
    ({ sequencer } = await startSequencer(database, {
      history: h,
      store,
      onCheckpoint: (_note, size) => published.push(size),
    }));
    /** After each committed batch: its index leaf, against the server's trie and the model's. */
    const checkLast = async () => {
      const leaf = await expectIndexLeafAt(store, layout.size, layout.trie(h).root());
      // The log's clock when it wrote the leaf (the History's, in these tests).
      expect(leaf.time).toBe(h.now * 1000);
    };
    await setupOrg();
    await checkLast();
    h.tick(5);
    const laptop = testKey("frank-laptop");
    const batch = await sequencer.submit(
      items(
        h.append(h.invite("acme", "frank", delegate(bridge, "scim"))).envelope,
        h.append(h.invite("acme", "gina", delegate(bridge, "scim"))).envelope,
        h.append(h.keyAdd("acme", "frank", laptop)).envelope,
      ),
    );
    expect(batch.map((r) => ok(r).index)).toEqual(layout.batch(3));
    await checkLast();
    h.tick(5);
    // Org chain and account chain in one batch, with a refusal beside them.
    const refused = h.keyAdd("acme", "gina", testKey("evil"), { by: delegate(bridge, "scim") });
    const mixed = await sequencer.submit(
      items(
        h.append(h.keyAdd("acme", "frank", testKey("frank-phone"), { by: self(laptop) })).envelope,
        refused,
        h.append(h.grantRevoke("acme", "scim", admin(root))).envelope,
      ),
    );
    expect(code(mixed[1])).toBe("DELEGATE_CANNOT_ADD_KEY");
    expect([ok(mixed[0]).index, ok(mixed[2]).index]).toEqual(layout.batch(2));
    await checkLast();
    // Nothing appended: nothing published, no index leaf.
    h.tick(5);
    expect(code((await sequencer.submit(items(refused)))[0])).toBe("DELEGATE_CANNOT_ADD_KEY");
    ok((await sequencer.submit(items(h.entries[0]!.envelope)))[0]);
    expect(await store.treeSize()).toBe(layout.size);

    expect(published).toEqual(layout.sizes);
    const rows = await database.query<{ size: string | number }>(
      "select size from checkpoints order by size",
    );
    expect(rows.map((r) => Number(r.size))).toEqual([0, ...layout.sizes]);
    for (const size of layout.sizes) await expectIndexLeafAt(store, size);
    // A store that was handed no trie rebuilds each older one (from the state tables and the
    // entries) to the same roots.
    const cold = new LogStore(database);
    for (const size of [...layout.sizes].reverse()) await expectIndexLeafAt(cold, size);
    await check();
  });

  it("after a restart rebuilds the index from the state tables, matching the last index leaf, and goes on", async () => {
    await setupOrg();
    const laptop = testKey("hank-laptop");
    const first = await sequencer.submit(
      items(
        h.append(h.invite("acme", "hank", delegate(bridge, "scim"))).envelope,
        h.append(h.keyAdd("acme", "hank", laptop)).envelope,
        h.append(h.invite("acme", "iris", delegate(bridge, "scim"))).envelope,
      ),
    );
    expect(first.map((r) => ok(r).index)).toEqual(layout.batch(3));
    await check();
    const last = await expectIndexLeafAt(store, layout.size, layout.trie(h).root());
    await sequencer.stop();

    // A new store and a new sequencer: no trie handed over; the index is rebuilt from the
    // derived state tables alone, and must be the one the last index leaf committed to.
    store = new LogStore(database);
    const rebuilt = await store.chainIndex.atHead();
    expect(rebuilt.size).toBe(layout.size);
    expect(toBase64(rebuilt.trie.root())).toBe(toBase64(last.root));
    // The same read one account at a time (atHead pages through the accounts table).
    const paged = await new ChainIndexCache(database, 1).atHead();
    expect(toBase64(paged.trie.root())).toBe(toBase64(last.root));
    ({ sequencer } = await startSequencer(database, { history: h, store }));
    expect(sequencer.isLeader).toBe(true);
    expect(sequencer.treeSize).toBe(layout.size);

    // The next batch changes chains from before the restart and starts new ones.
    h.tick(5);
    const next = await sequencer.submit(
      items(
        h.append(h.keyAdd("acme", "hank", testKey("hank-phone"), { by: self(laptop) })).envelope,
        h.append(h.suspend("acme", "iris", delegate(bridge, "scim"))).envelope,
        h.append(h.invite("acme", "jack", delegate(bridge, "scim"))).envelope,
        h.append(h.adminAdd("acme", testKey("root-2"), admin(root))).envelope,
      ),
    );
    expect(next.map((r) => ok(r).index)).toEqual(layout.batch(4));
    for (const r of next) checkProof(ok(r));
    const after = await expectIndexLeafAt(store, layout.size, layout.trie(h).root());
    expect(after.time).toBe(h.now * 1000);
    // checkLog replays the whole log, recomputing every index leaf, the new one included.
    await check();
  });

  it("writes admins removed and added back within one batch as the replay has them, before and after a restart", async () => {
    // A batch's statements go to PostgreSQL pipelined (server/storage/commit.ts): the admins'
    // delete must still run before their insert, or the org would lose its admins (or the
    // insert would collide with rows the delete had yet to remove).
    await setupOrg();
    const root2 = testKey("root-2");
    const root3 = testKey("root-3");
    const first = await sequencer.submit(
      items(
        h.append(h.adminAdd("acme", root2, admin(root))).envelope,
        h.append(h.adminAdd("acme", root3, admin(root))).envelope,
        h.append(h.invite("acme", "kim", delegate(bridge, "scim"))).envelope,
      ),
    );
    expect(first.map((r) => ok(r).index)).toEqual(layout.batch(3));
    await check();
    const next = await sequencer.submit(
      items(
        h.append(h.adminRemove("acme", root2, admin(root))).envelope,
        h.append(h.adminAdd("acme", root2, admin(root))).envelope,
        h.append(h.adminRemove("acme", root, admin(root3))).envelope,
        h.append(h.invite("acme", "lee", delegate(bridge, "scim"))).envelope,
      ),
    );
    expect(next.map((r) => ok(r).index)).toEqual(layout.batch(4));
    const stored = await store.getOrg("acme");
    expect(stored?.admins).toEqual([root3.pub, root2.pub]);
    await check();

    // What a restarted sequencer reads back is the same: the next admin event builds on it.
    await sequencer.stop();
    store = new LogStore(database);
    ({ sequencer } = await startSequencer(database, { history: h, store }));
    const again = await sequencer.submit(
      items(h.append(h.adminRemove("acme", root3, admin(root2))).envelope),
    );
    expect(again.map((r) => ok(r).index)).toEqual(layout.batch(1));
    expect((await store.getOrg("acme"))?.admins).toEqual([root2.pub]);
    await check();
  });
});

// Throughput figures come from bench/append.ts, never from a timed test: this one checks that
// many concurrent submitters in many batches all get provable, correctly ordered answers.
describe("sequencer under load on PostgreSQL", () => {
  it("sequences 20,000 events from 100 concurrent submitters, every answer correct", async () => {
    const tdb = await createTestLogDatabase("postgres");
    const database = await tdb.open({ max: 8 });
    const h = new History();
    const { sequencer } = await startSequencer(database, {
      history: h,
      batchDelayMs: 20,
      queueLimit: 25_000,
    });
    try {
      const setup = items(
        h.append(h.orgCreate("acme", { admins: [root] })).envelope,
        h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)))
          .envelope,
      );
      await sequencer.submit(setup);
      const n = 20_000;
      const envelopes = [];
      for (let i = 0; i < n; i++)
        envelopes.push(h.append(h.invite("acme", `user${i}`, delegate(bridge, "scim"))).envelope);
      const parsed = items(...envelopes);
      const t0 = performance.now();
      const pending: Promise<SubmitResult[]>[] = [];
      // 100 submitters of 200 events each, as the HTTP layer would hand them over.
      for (let i = 0; i < n; i += 200) pending.push(sequencer.submit(parsed.slice(i, i + 200)));
      const results = (await Promise.all(pending)).flat();
      const seconds = (performance.now() - t0) / 1000;
      console.log(`sequenced ${n} events in ${seconds.toFixed(2)} s (not a benchmark: see bench/append.ts)`);
      expect(results.every((r) => !("error" in r))).toBe(true);
      expect(equalBytes(ok(results[n - 1]).leafHash, h.entries[n + 1]!.leafHash)).toBe(true);
      await sequencer.stop();
      await checkLog(database, { verifier: testVerifier(), expect: h, skipState: false });
    } finally {
      await sequencer.stop();
      await database.close();
      await tdb.drop();
    }
  }, 300_000);
});
