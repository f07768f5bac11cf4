// The log's storage as the HTTP layer reads it, on PostgreSQL and on PGlite: what was appended
// reads back byte for byte, proofs from stored tiles verify against the signed checkpoint, the
// derived state is the replay of the entries, and all of it survives a restart.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { leafHash } from "../../core/merkle.js";
import { openNote } from "../../core/note.js";
import { checkInclusion, proveInclusion } from "../../core/proof.js";
import { TILE_WIDTH } from "../../core/tiles.js";
import type { Database } from "../../node/db.js";
import type { SubmitOk, SubmitResult } from "../../server/sequencer.js";
import { LogStore } from "../../server/store.js";
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

function ok(r: SubmitResult | undefined): SubmitOk {
  if (!r || "error" in r) throw new Error(`expected success, got ${r && "error" in r ? r.error.code : r}`);
  return r;
}

describe.each(BACKENDS)("log storage on %s", (backend) => {
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

  it("a new log answers /checkpoint at once with a signed size-0 checkpoint", async () => {
    const { store, sequencer } = await startSequencer(database);
    expect(sequencer.isLeader).toBe(true);
    const cp = await store.latestCheckpoint();
    expect(cp?.size).toBe(0);
    const c = parseCheckpoint(openNote(cp!.note, [testVerifier()]).body);
    expect(c.size).toBe(0);
    expect(await store.treeSize()).toBe(0);
    expect(await store.readTile(0, 0)).toBeUndefined();
    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier() });
  });

  it("appended events read back byte for byte, with proofs from stored tiles", async () => {
    const h = new History();
    const { store, sequencer } = await startSequencer(database, { history: h });
    const setup = [
      h.append(h.orgCreate("acme", { admins: [root] })).envelope,
      h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)))
        .envelope,
    ];
    expect((await sequencer.submit(items(...setup))).map((r) => ok(r).index)).toEqual([0, 1]);
    // Enough accounts to fill a level-0 tile and start the next.
    const invites = [];
    for (let i = 0; i < 300; i++)
      invites.push(h.append(h.invite("acme", `user${i}`, delegate(bridge, "scim"))).envelope);
    const results = await sequencer.submit(items(...invites));
    const last = ok(results[results.length - 1]);
    expect(last.treeSize).toBe(302);

    const cp = await store.latestCheckpoint();
    const c = parseCheckpoint(openNote(cp!.note, [testVerifier()]).body);
    expect(c.size).toBe(302);
    for (const r of results.map(ok)) {
      checkInclusion(
        r.leafHash,
        r.index,
        r.treeSize,
        r.inclusion,
        parseCheckpoint(openNote(r.checkpoint, [testVerifier()]).body).root,
      );
    }

    const got = await store.readEntries(0, 302);
    expect(got).toHaveLength(302);
    for (const [i, e] of h.entries.entries()) expect(equalBytes(got[i]!, e.leaf)).toBe(true);
    expect(await store.readEntries(300, 10)).toHaveLength(2);
    const e7 = await store.getEntry(7);
    expect(equalBytes(e7!.envelope, h.entries[7]!.leaf)).toBe(true);
    expect(equalBytes(e7!.leafHash, leafHash(e7!.envelope))).toBe(true);
    expect(await store.getEntry(302)).toBeUndefined();
    expect(await store.findLeaf(h.entries[123]!.leafHash)).toBe(123);
    expect(await store.findLeaf(new Uint8Array(32))).toBeUndefined();

    const full = await store.readTile(0, 0);
    expect(full).toHaveLength(TILE_WIDTH * 32);
    expect(equalBytes(full!.subarray(5 * 32, 6 * 32), h.entries[5]!.leafHash)).toBe(true);
    expect(await store.readTile(0, 1)).toHaveLength((302 - 256) * 32);
    expect(await store.readTile(1, 0)).toHaveLength(32);

    // Proofs at the latest size and at an earlier published size, from a fresh store (no cache).
    const cold = new LogStore(database);
    for (const [index, size] of [
      [0, 302],
      [255, 302],
      [301, 302],
      [1, 2],
    ] as const) {
      const proof = await proveInclusion(index, size, cold.hashReader(size));
      const at = await cold.checkpointAt(size);
      checkInclusion(h.entries[index]!.leafHash, index, size, proof, at!.root);
    }

    expect(await store.getOrg("acme")).toEqual(h.state.org("acme"));
    expect(await store.getAccount("acme", "user42")).toEqual(h.state.account("acme", "user42"));
    expect(await store.getAccount("acme", "nobody")).toBeUndefined();
    expect(await store.getOrg("nobody")).toBeUndefined();
    expect(await store.orgEvents("acme")).toEqual([
      { index: 0, leafHash: h.entries[0]!.leafHash, type: "org.create", seq: 0 },
      { index: 1, leafHash: h.entries[1]!.leafHash, type: "grant.issue", seq: 1 },
    ]);
    expect(await store.accountEvents("acme", "user42")).toEqual([
      { index: 44, leafHash: h.entries[44]!.leafHash, type: "account.invite", seq: 0 },
    ]);

    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier(), expect: h });
  });

  it("survives a restart: state, tiles and checkpoint intact, and the log keeps growing from them", async () => {
    const h = new History();
    const alice = testKey("alice-laptop");
    let { sequencer } = await startSequencer(database, { history: h });
    await sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope));
    const batch = [];
    for (let i = 0; i < 260; i++) batch.push(h.append(h.invite("acme", `u${i}`, admin(root))).envelope);
    await sequencer.submit(items(...batch));
    await sequencer.submit(items(h.append(h.keyAdd("acme", "u3", alice)).envelope));
    await sequencer.stop();
    const before = await checkLog(database, { verifier: testVerifier(), expect: h });
    await database.close();

    database = await tdb.open();
    const store = new LogStore(database);
    expect(await store.treeSize()).toBe(262);
    expect(equalBytes((await store.latestCheckpoint())!.root, before.root)).toBe(true);
    expect(await store.getAccount("acme", "u3")).toEqual(h.state.account("acme", "u3"));
    await checkLog(database, { verifier: testVerifier(), expect: h, previous: before });

    // The restarted sequencer continues from the stored edge tiles and state.
    ({ sequencer } = await startSequencer(database, { history: h, store }));
    const r = await sequencer.submit(
      items(h.append(h.keyAdd("acme", "u3", testKey("alice-phone"), { by: self(alice) })).envelope),
    );
    expect(ok(r[0]).index).toBe(262);
    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier(), expect: h, previous: before });
    expect((await store.getAccount("acme", "u3"))?.keys["alice-phone"]?.pub).toBe(testKey("alice-phone").pub);
  });

  it("a warm tile cache never answers a larger tree from a partial tile cached at a smaller one", async () => {
    const h = new History();
    const { store, sequencer } = await startSequencer(database, { history: h });
    await sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope));
    const grow = async (n: number) => {
      const batch = [];
      for (let i = 0; i < n; i++)
        batch.push(h.append(h.invite("acme", `u${h.entries.length}`, admin(root))).envelope);
      for (const r of await sequencer.submit(items(...batch))) ok(r);
    };
    const proveAll = async (size: number) => {
      const at = await store.checkpointAt(size);
      // Every leaf, so that every partial tile of this size is read and hashed into the cache.
      for (let index = 0; index < size; index++) {
        const proof = await proveInclusion(index, size, store.hashReader(size));
        checkInclusion(h.entries[index]!.leafHash, index, size, proof, at!.root);
      }
    };
    // 40 leaves (partial level-0 tile), then 300 (one full tile and a new partial one), then
    // 520 (a second full tile, a level-1 tile of width 2): each time the same store, warm.
    await grow(39);
    await proveAll(40);
    await grow(260);
    await proveAll(300);
    await proveAll(40);
    await grow(220);
    await proveAll(520);
    await proveAll(300);
    await sequencer.stop();
  });

  it("keeps witness cosignatures per checkpoint, a newer line from the same witness replacing the older", async () => {
    const { store, sequencer } = await startSequencer(database);
    await store.addCosignature(0, "w1.example", "— w1.example AAAA\n");
    await store.addCosignature(0, "w2.example", "— w2.example BBBB\n");
    await store.addCosignature(0, "w1.example", "— w1.example CCCC\n");
    expect((await store.latestCheckpoint())!.cosignatures).toEqual([
      "— w1.example CCCC\n",
      "— w2.example BBBB\n",
    ]);
    await sequencer.stop();
  });
});

describe("proof serving from the tile cache", () => {
  it("serves correct inclusion proofs on a 2^20-leaf tree from cached full tiles", async () => {
    // Tiles for 2^20 leaves written straight into PGlite, as the sequencer would have written them.
    const { openDatabase } = await import("../../node/db.js");
    const { migrateLogDatabase } = await import("../../server/store.js");
    const { appendLeaves } = await import("../../core/tiles.js");
    const { tiles: tilesTable } = await import("../../server/schema.js");
    const { sha256 } = await import("@noble/hashes/sha2.js");
    const database = await openDatabase({ dataDir: "memory://" });
    await migrateLogDatabase(database);
    const size = 1 << 20;
    const leaves: Uint8Array[] = [];
    const seed = new Uint8Array(4);
    for (let i = 0; i < size; i++) {
      new DataView(seed.buffer).setUint32(0, i);
      leaves.push(sha256(seed));
    }
    const appended = appendLeaves(0, () => undefined, leaves);
    for (let i = 0; i < appended.tiles.length; i += 500) {
      await database.db
        .insert(tilesTable)
        .values(
          appended.tiles
            .slice(i, i + 500)
            .map(({ tile, data }) => ({ level: tile.level, idx: tile.index, data })),
        );
    }
    const store = new LogStore(database);
    const reader = store.hashReader(size);
    // Warm the cache (one proof per level-0 tile touches every tile), then measure.
    for (let i = 0; i < size; i += 256) await proveInclusion(i, size, reader);
    let x = 12345;
    const next = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x % size;
    };
    // Rates are measured by bench/read.ts; here every proof from the warm cache must verify.
    for (let i = 0; i < 2_000; i++) {
      const index = next();
      const proof = await proveInclusion(index, size, reader);
      checkInclusion(leaves[index]!, index, size, proof, appended.root);
    }
    await database.close();
  }, 300_000);
});
