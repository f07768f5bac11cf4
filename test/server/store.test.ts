// The log's storage as the HTTP layer reads it, on PostgreSQL and on PGlite: what was appended
// reads back byte for byte, proofs from stored tiles verify against the signed checkpoint, the
// derived state is the replay of the entries, and all of it survives a restart.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { isIndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { leafHash } from "../../core/merkle.js";
import { openNote } from "../../core/note.js";
import { checkInclusion, proveInclusion } from "../../core/proof.js";
import { TILE_WIDTH } from "../../core/tile-paths.js";
import type { Database } from "../../node/db.js";
import type { SubmitOk, SubmitResult } from "../../server/sequencer.js";
import { LogStore } from "../../server/storage/log-store.js";
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
import { LogLayout } from "./log-layout.js";

const root = testKey("root");
const bridge = testKey("bridge");

function ok(r: SubmitResult | undefined): SubmitOk {
  if (!r || "error" in r) throw new Error(`expected success, got ${r && "error" in r ? r.error.code : r}`);
  return r;
}

/**
 * The leaf hash at every log index below `size`: an event's from the model History, an index
 * leaf's from the stored bytes, once they are checked to be the index leaf due there (a log.index
 * leaf that says it sits at that index).
 */
async function expectedLeafHashes(store: LogStore, layout: LogLayout, h: History, size: number) {
  const out: Uint8Array[] = [];
  const stored = await store.readEntries(0, size);
  for (let i = 0; i < size; i++) {
    const at = layout.historyIndex(i);
    if (at !== undefined) {
      out.push(h.entries[at]!.leafHash);
      continue;
    }
    expect(isIndexLeaf(stored[i]!)).toBe(true);
    expect(parseIndexLeaf(stored[i]!).size).toBe(i);
    out.push(leafHash(stored[i]!));
  }
  return out;
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
    const layout = new LogLayout();
    const { store, sequencer } = await startSequencer(database, { history: h });
    const setup = [
      h.append(h.orgCreate("acme", { admins: [root] })).envelope,
      h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)))
        .envelope,
    ];
    expect((await sequencer.submit(items(...setup))).map((r) => ok(r).index)).toEqual(layout.batch(2));
    // Enough accounts to fill a level-0 tile and start the next.
    const invites = [];
    for (let i = 0; i < 300; i++)
      invites.push(h.append(h.invite("acme", `user${i}`, delegate(bridge, "scim"))).envelope);
    const results = await sequencer.submit(items(...invites));
    // One batch (under the batch size): 300 events, then its index leaf.
    expect(results.map((r) => ok(r).index)).toEqual(layout.batch(300));
    const size = layout.size;
    const last = ok(results[results.length - 1]);
    expect(last.treeSize).toBe(size);

    const cp = await store.latestCheckpoint();
    const c = parseCheckpoint(openNote(cp!.note, [testVerifier()]).body);
    expect(c.size).toBe(size);
    for (const r of results.map(ok)) {
      checkInclusion(
        r.leafHash,
        r.index,
        r.treeSize,
        r.inclusion,
        parseCheckpoint(openNote(r.checkpoint, [testVerifier()]).body).root,
      );
    }

    const got = await store.readEntries(0, size);
    expect(got).toHaveLength(size);
    // Every event at its log index; between the batches, their index leaves.
    for (const [i, e] of h.entries.entries()) expect(equalBytes(got[layout.index(i)]!, e.leaf)).toBe(true);
    for (const i of layout.indexLeaves) {
      expect(isIndexLeaf(got[i]!)).toBe(true);
      expect(parseIndexLeaf(got[i]!).size).toBe(i);
    }
    expect(await store.readEntries(size - 2, 10)).toHaveLength(2);
    const e7 = await store.getEntry(layout.index(7));
    expect(equalBytes(e7!.envelope, h.entries[7]!.leaf)).toBe(true);
    expect(equalBytes(e7!.leafHash, leafHash(e7!.envelope))).toBe(true);
    expect(await store.getEntry(size)).toBeUndefined();
    expect(await store.findLeaf(h.entries[123]!.leafHash)).toBe(layout.index(123));
    expect(await store.findLeaf(leafHash(got[size - 1]!))).toBe(size - 1);
    expect(await store.findLeaf(new Uint8Array(32))).toBeUndefined();

    const full = await store.readTile(0, 0);
    expect(full).toHaveLength(TILE_WIDTH * 32);
    const at5 = layout.index(5);
    expect(equalBytes(full!.subarray(at5 * 32, (at5 + 1) * 32), h.entries[5]!.leafHash)).toBe(true);
    expect(await store.readTile(0, 1)).toHaveLength((size - 256) * 32);
    expect(await store.readTile(1, 0)).toHaveLength(32);

    // Proofs at the latest size and at an earlier published size, from a fresh store (no cache):
    // the first and a middle event, the last event and the index leaf after it, and the first
    // batch's last event.
    const cold = new LogStore(database);
    const hashes = await expectedLeafHashes(cold, layout, h, size);
    const [firstSize] = layout.sizes;
    for (const [index, at] of [
      [0, size],
      [255, size],
      [size - 2, size],
      [size - 1, size],
      [1, firstSize!],
    ] as const) {
      const proof = await proveInclusion(index, at, cold.hashReader(at));
      const cpAt = await cold.checkpointAt(at);
      checkInclusion(hashes[index]!, index, at, proof, cpAt!.root);
    }

    // The model's state records hold History indices: compare them at the log's.
    expect(await store.getOrg("acme")).toEqual(layout.org(h.state.org("acme")));
    expect(await store.getAccount("acme", "user42")).toEqual(
      layout.account(h.state.account("acme", "user42")),
    );
    expect(await store.getAccount("acme", "nobody")).toBeUndefined();
    expect(await store.getOrg("nobody")).toBeUndefined();
    expect(await store.orgEvents("acme")).toEqual([
      { index: layout.index(0), leafHash: h.entries[0]!.leafHash, type: "org.create", seq: 0 },
      { index: layout.index(1), leafHash: h.entries[1]!.leafHash, type: "grant.issue", seq: 1 },
    ]);
    expect(await store.accountEvents("acme", "user42")).toEqual([
      { index: layout.index(44), leafHash: h.entries[44]!.leafHash, type: "account.invite", seq: 0 },
    ]);

    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier(), expect: h });
  });

  it("survives a restart: state, tiles and checkpoint intact, and the log keeps growing from them", async () => {
    const h = new History();
    const layout = new LogLayout();
    const alice = testKey("alice-laptop");
    let { sequencer } = await startSequencer(database, { history: h });
    const indices = async (envelopes: ReturnType<History["invite"]>[]) =>
      (await sequencer.submit(items(...envelopes))).map((r) => ok(r).index);
    expect(await indices([h.append(h.orgCreate("acme", { admins: [root] })).envelope])).toEqual(
      layout.batch(1),
    );
    const batch = [];
    for (let i = 0; i < 260; i++) batch.push(h.append(h.invite("acme", `u${i}`, admin(root))).envelope);
    expect(await indices(batch)).toEqual(layout.batch(260));
    expect(await indices([h.append(h.keyAdd("acme", "u3", alice)).envelope])).toEqual(layout.batch(1));
    await sequencer.stop();
    const before = await checkLog(database, { verifier: testVerifier(), expect: h });
    expect(before.size).toBe(layout.size);
    await database.close();

    database = await tdb.open();
    const store = new LogStore(database);
    expect(await store.treeSize()).toBe(layout.size);
    expect(equalBytes((await store.latestCheckpoint())!.root, before.root)).toBe(true);
    expect(await store.getAccount("acme", "u3")).toEqual(layout.account(h.state.account("acme", "u3")));
    // The index of chain heads, rebuilt from the reopened state tables, is the one the last
    // index leaf committed to.
    const rebuilt = await store.chainIndex.atHead();
    expect(rebuilt.size).toBe(layout.size);
    const lastLeaf = parseIndexLeaf((await store.getEntry(layout.size - 1))!.envelope);
    expect(lastLeaf.size).toBe(layout.size - 1);
    expect(equalBytes(rebuilt.trie.root(), lastLeaf.root)).toBe(true);
    expect(equalBytes(rebuilt.trie.root(), layout.trie(h).root())).toBe(true);
    await checkLog(database, { verifier: testVerifier(), expect: h, previous: before });

    // The restarted sequencer continues from the stored edge tiles and state.
    ({ sequencer } = await startSequencer(database, { history: h, store }));
    const r = await sequencer.submit(
      items(h.append(h.keyAdd("acme", "u3", testKey("alice-phone"), { by: self(alice) })).envelope),
    );
    // Right after the last index leaf of before the restart.
    expect(ok(r[0]).index).toBe(before.size);
    expect(ok(r[0]).index).toBe(layout.batch(1)[0]);
    expect(ok(r[0]).treeSize).toBe(layout.size);
    await sequencer.stop();
    await checkLog(database, { verifier: testVerifier(), expect: h, previous: before });
    // Its new key among them (the model's record has it, at the log's index).
    expect(await store.getAccount("acme", "u3")).toEqual(layout.account(h.state.account("acme", "u3")));
  });

  it("a warm tile cache never answers a larger tree from a partial tile cached at a smaller one", async () => {
    const h = new History();
    const layout = new LogLayout();
    const { store, sequencer } = await startSequencer(database, { history: h });
    await sequencer.submit(items(h.append(h.orgCreate("acme", { admins: [root] })).envelope));
    layout.batch(1);
    const grow = async (n: number) => {
      const batch = [];
      for (let i = 0; i < n; i++)
        batch.push(h.append(h.invite("acme", `u${h.entries.length}`, admin(root))).envelope);
      const results = await sequencer.submit(items(...batch));
      expect(results.map((r) => ok(r).index)).toEqual(layout.batch(n));
      return layout.size;
    };
    let hashes: Uint8Array[] = [];
    const proveAll = async (size: number) => {
      const at = await store.checkpointAt(size);
      // Every leaf, so that every partial tile of this size is read and hashed into the cache.
      for (let index = 0; index < size; index++) {
        const proof = await proveInclusion(index, size, store.hashReader(size));
        checkInclusion(hashes[index]!, index, size, proof, at!.root);
      }
    };
    // Each batch ends with its index leaf, so the sizes are: 42 leaves (a partial level-0 tile),
    // then 303 (one full tile and a new partial one), then 524 (a second full tile, a level-1
    // tile of width 2): each time the same store, warm.
    const small = await grow(39);
    hashes = await expectedLeafHashes(store, layout, h, small);
    expect(small).toBeLessThan(256);
    await proveAll(small);
    const middle = await grow(260);
    expect(Math.floor(middle / 256)).toBe(1);
    hashes = await expectedLeafHashes(store, layout, h, middle);
    await proveAll(middle);
    await proveAll(small);
    const large = await grow(220);
    expect(Math.floor(large / 256)).toBe(2);
    hashes = await expectedLeafHashes(store, layout, h, large);
    await proveAll(large);
    await proveAll(middle);
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
    // Lines left by witnesses configured once (20 in all): a served note still carries at most
    // 16 signatures, the log's and 15 cosignatures, the first by witness name.
    for (let i = 3; i <= 20; i++)
      await store.addCosignature(0, `w${String(i).padStart(2, "0")}.example`, `— w${i} DDDD\n`);
    const capped = (await store.latestCheckpoint())!.cosignatures;
    expect(capped).toHaveLength(15);
    expect(capped[0]).toBe("— w3 DDDD\n");
    await sequencer.stop();
  });
});

describe("proof serving from the tile cache", () => {
  it("serves correct inclusion proofs on a 2^20-leaf tree from cached full tiles", async () => {
    // Tiles for 2^20 leaves written straight into PGlite, as the sequencer would have written them.
    const { openDatabase } = await import("../../node/db.js");
    const { migrateLogDatabase } = await import("../../server/storage/log-store.js");
    const { appendLeaves } = await import("../../core/tile-append.js");
    const { tiles: tilesTable } = await import("../../server/storage/schema.js");
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
