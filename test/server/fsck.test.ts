// fsck re-derives the log from its entries and names the first place storage disagrees: the
// Yeti2022 lesson (one flipped bit in a stored hash) on PostgreSQL and PGlite. The index of
// chain heads is checked twice: fsck replays every index leaf against the entries before it,
// and the sequencer refuses to start on state tables whose heads disagree with the last one.

import type { Logger } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { equalBytes, utf8 } from "../../core/bytes.js";
import { formatIndexLeaf, isIndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import { isTrustlogError } from "../../core/errors.js";
import { leafHash } from "../../core/merkle.js";
import type { Database } from "../../node/db.js";
import { fsck } from "../../server/storage/fsck.js";
import { LogStore } from "../../server/storage/log-store.js";
import { admin, History, testKey } from "../helpers/events.js";
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
const otherLogKey = testKey("not-the-log");

describe.each(BACKENDS)("fsck on %s", (backend) => {
  let tdb: TestLogDatabase;
  let database: Database;
  let h: History;
  /** Two batches (100 events, then 201), each closed by its index leaf. */
  let layout: LogLayout;

  const flip = (table: string, column: string, where: string, byte: number) =>
    database.query(
      `update ${table} set ${column} = set_byte(${column}, ${byte}, get_byte(${column}, ${byte}) # 1) where ${where}`,
    );

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
    h = new History();
    layout = new LogLayout();
    const { sequencer } = await startSequencer(database, { history: h });
    const envelopes = [h.append(h.orgCreate("acme", { admins: [root] })).envelope];
    for (let i = 0; i < 300; i++) envelopes.push(h.append(h.invite("acme", `u${i}`, admin(root))).envelope);
    for (const part of [envelopes.slice(0, 100), envelopes.slice(100)]) {
      const results = await sequencer.submit(items(...part));
      expect(results.map((r) => ("error" in r ? r.error.code : r.index))).toEqual(layout.batch(part.length));
    }
    await sequencer.stop();
  });
  afterEach(async () => {
    await database.close();
    await tdb.drop();
  });

  it("passes a healthy log, checking every entry and tile", async () => {
    const progress: number[] = [];
    const report = await fsck(database, { verifier: testVerifier(), onProgress: (n) => progress.push(n) });
    expect(report.mismatches).toEqual([]);
    // 301 events and two index leaves.
    expect(layout.size).toBe(303);
    expect(report).toMatchObject({ ok: true, size: layout.size, entriesChecked: layout.size });
    // Level 0: one full tile and a partial of 47; level 1: a partial of 1.
    expect(report.tilesChecked).toBe(3);
    expect(progress).toEqual([256, layout.size]);
  });

  it("names a flipped bit in an entry's bytes", async () => {
    await flip("entries", "envelope", "idx = 137", 40);
    const report = await fsck(database, { verifier: testVerifier() });
    expect(report.ok).toBe(false);
    expect(report.mismatches[0]).toMatchObject({ kind: "leaf-hash", index: 137 });
  });

  it("names a flipped bit in a stored leaf hash", async () => {
    await flip("entries", "leaf_hash", "idx = 12", 0);
    const report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches[0]).toMatchObject({ kind: "leaf-hash", index: 12 });
  });

  it("names a flipped bit in a full tile and in a partial tile", async () => {
    await flip("tiles", "data", "level = 0 and idx = 0", 32 * 200 + 7);
    await flip("tiles", "data", "level = 0 and idx = 1", 32 * 3);
    const report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches).toHaveLength(2);
    expect(report.mismatches[0]).toMatchObject({ kind: "tile", level: 0, index: 0 });
    expect(report.mismatches[0]!.message).toContain("at hash 200");
    expect(report.mismatches[1]).toMatchObject({ kind: "tile", level: 0, index: 1 });
  });

  it("names an entry stored in a form that is not canonical, even with a matching leaf hash", async () => {
    const row = await database.query<{ envelope: Uint8Array }>("select envelope from entries where idx = 5");
    const spaced = utf8(`${new TextDecoder().decode(row[0]!.envelope)} `);
    await database.query("update entries set envelope = $1, leaf_hash = $2 where idx = 5", [
      spaced,
      leafHash(spaced),
    ]);
    const report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches[0]).toMatchObject({ kind: "entry-not-canonical", index: 5 });
    expect(report.mismatches.some((m) => m.kind === "tile")).toBe(true);
  });

  it("names a missing entry, a checkpoint with a bad signature, and one signed by another key", async () => {
    await database.query("delete from entries where idx = 300");
    let report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches[0]).toMatchObject({ kind: "entry-missing", index: 300 });

    const size = layout.size;
    const cp = await database.query<{ note: string }>(`select note from checkpoints where size = ${size}`);
    const note = cp[0]!.note;
    // Change one base64 character of the signature.
    const at = note.length - 10;
    const forged = note.slice(0, at) + (note[at] === "A" ? "B" : "A") + note.slice(at + 1);
    await database.query(`update checkpoints set note = $1 where size = ${size}`, [forged]);
    report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches.map((m) => m.kind)).toContain("checkpoint-signature");

    const { ed25519NoteVerifier } = await import("../../core/note-keys.js");
    const { fromBase64 } = await import("../../core/bytes.js");
    report = await fsck(database, { verifier: ed25519NoteVerifier("other", fromBase64(otherLogKey.pub)) });
    expect(report.mismatches.map((m) => m.kind)).toContain("checkpoint-signature");
  });

  it("names an index leaf whose root was rewritten, even in canonical form with a matching leaf hash", async () => {
    const at = layout.indexLeaves[0]!;
    const rows = await database.query<{ envelope: Uint8Array }>(
      `select envelope from entries where idx = ${at}`,
    );
    const leaf = parseIndexLeaf(new Uint8Array(rows[0]!.envelope));
    expect(leaf.size).toBe(at);
    // A well-formed index leaf at the right place and time, committing to another trie.
    const root = leaf.root.slice();
    root[0]! ^= 1;
    const forged = formatIndexLeaf({ ...leaf, root });
    expect(isIndexLeaf(forged)).toBe(true);
    await database.query(`update entries set envelope = $1, leaf_hash = $2 where idx = ${at}`, [
      forged,
      leafHash(forged),
    ]);
    const report = await fsck(database, { verifier: testVerifier() });
    expect(report.ok).toBe(false);
    expect(report.mismatches[0]).toMatchObject({ kind: "index", index: at });
    // That leaf only: the replay goes on with the trie it recomputed, so the next index leaf,
    // which the log computed honestly, still matches.
    expect(report.mismatches.filter((m) => m.kind === "index")).toEqual([
      expect.objectContaining({ kind: "index", index: at }),
    ]);
    // The bytes are canonical and their hash is stored, so only the tree betrays them besides.
    const kinds = new Set(report.mismatches.map((m) => m.kind));
    expect(kinds.has("leaf-hash") || kinds.has("entry-not-canonical") || kinds.has("entry-columns")).toBe(
      false,
    );
    expect(kinds.has("tile")).toBe(true);
  });

  it("leaves a sequencer unable to start on state tables whose chain heads disagree with the last index leaf", async () => {
    // The trie the sequencer rebuilds from the state tables at start-up must be the one the
    // last index leaf committed to; a changed head, a changed leaf hash or a chain the entries
    // never made is LOG_CORRUPT, and nothing is sequenced on top of it.
    const tamper: [string, string, string][] = [
      [
        "an account's head seq",
        "update accounts set head_seq = head_seq + 1 where org = 'acme' and id = 'u7'",
        "update accounts set head_seq = head_seq - 1 where org = 'acme' and id = 'u7'",
      ],
      [
        "an org's head leaf hash",
        "update orgs set head_leaf_hash = set_byte(head_leaf_hash, 0, get_byte(head_leaf_hash, 0) # 1) where id = 'acme'",
        "update orgs set head_leaf_hash = set_byte(head_leaf_hash, 0, get_byte(head_leaf_hash, 0) # 1) where id = 'acme'",
      ],
      [
        "an account the entries never made",
        `insert into accounts (org, id, status, external_id, invite_key, ever_active, head_seq, head_leaf_hash, head_index)
         select org, 'ghost', status, external_id, invite_key, ever_active, head_seq, head_leaf_hash, head_index
         from accounts where org = 'acme' and id = 'u7'`,
        "delete from accounts where org = 'acme' and id = 'ghost'",
      ],
    ];
    for (const [what, change, undo] of tamper) {
      await database.query(change);
      const refusals: unknown[] = [];
      const logger = {
        info: () => {},
        error: () => {},
        warn: (o: { err?: unknown }) => refusals.push(o.err),
      } as unknown as Logger;
      const store = new LogStore(database);
      let started: Awaited<ReturnType<typeof startSequencer>> | undefined;
      let thrown: unknown;
      try {
        started = await startSequencer(database, { history: h, store, logger });
      } catch (e) {
        thrown = e;
      }
      if (backend === "pglite") {
        // One process, one attempt: start() itself fails.
        expect(isTrustlogError(thrown, "LOG_CORRUPT"), what).toBe(true);
      } else {
        // A follower's attempt failed (and will be retried): it does not lead.
        expect(thrown, what).toBeUndefined();
        expect(started!.sequencer.isLeader, what).toBe(false);
        expect(isTrustlogError(refusals[0], "LOG_CORRUPT"), `${what}: ${String(refusals[0])}`).toBe(true);
        expect(() => started!.sequencer.submit(items(h.invite("acme", "late", admin(root))))).toThrowError(
          expect.objectContaining({ code: "NOT_LEADER" }),
        );
        await started!.sequencer.stop();
      }
      expect(await store.treeSize()).toBe(layout.size);
      await database.query(undo);
    }
    // Restored, the log starts and is whole again.
    const { sequencer } = await startSequencer(database, { history: h });
    expect(sequencer.isLeader).toBe(true);
    expect(sequencer.treeSize).toBe(layout.size);
    await sequencer.stop();
    const view = await checkLog(database, { verifier: testVerifier(), expect: h });
    expect(equalBytes(view.root, (await fsck(database, { verifier: testVerifier() })).root)).toBe(true);
  });
});
