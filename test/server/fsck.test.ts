// fsck re-derives the log from its entries and names the first place storage disagrees: the
// Yeti2022 lesson (one flipped bit in a stored hash) on PostgreSQL and PGlite.

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { utf8 } from "../../core/bytes.js";
import { leafHash } from "../../core/merkle.js";
import type { Database } from "../../node/db.js";
import { fsck } from "../../server/fsck.js";
import { admin, History, testKey } from "../helpers/events.js";
import {
  BACKENDS,
  createTestLogDatabase,
  items,
  startSequencer,
  type TestLogDatabase,
  testVerifier,
} from "../helpers/log-harness.js";

const root = testKey("root");
const otherLogKey = testKey("not-the-log");

describe.each(BACKENDS)("fsck on %s", (backend) => {
  let tdb: TestLogDatabase;
  let database: Database;
  let h: History;

  const flip = (table: string, column: string, where: string, byte: number) =>
    database.query(
      `update ${table} set ${column} = set_byte(${column}, ${byte}, get_byte(${column}, ${byte}) # 1) where ${where}`,
    );

  beforeEach(async () => {
    tdb = await createTestLogDatabase(backend);
    database = await tdb.open();
    h = new History();
    const { sequencer } = await startSequencer(database, { history: h });
    const envelopes = [h.append(h.orgCreate("acme", { admins: [root] })).envelope];
    for (let i = 0; i < 300; i++) envelopes.push(h.append(h.invite("acme", `u${i}`, admin(root))).envelope);
    await sequencer.submit(items(...envelopes.slice(0, 100)));
    await sequencer.submit(items(...envelopes.slice(100)));
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
    expect(report).toMatchObject({ ok: true, size: 301, entriesChecked: 301 });
    // Level 0: one full tile and a partial of 45; level 1: a partial of 1.
    expect(report.tilesChecked).toBe(3);
    expect(progress).toEqual([256, 301]);
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

    const cp = await database.query<{ note: string }>("select note from checkpoints where size = 301");
    const note = cp[0]!.note;
    // Change one base64 character of the signature.
    const at = note.length - 10;
    const forged = note.slice(0, at) + (note[at] === "A" ? "B" : "A") + note.slice(at + 1);
    await database.query("update checkpoints set note = $1 where size = 301", [forged]);
    report = await fsck(database, { verifier: testVerifier() });
    expect(report.mismatches.map((m) => m.kind)).toContain("checkpoint-signature");

    const { ed25519NoteVerifier } = await import("../../core/note.js");
    const { fromBase64 } = await import("../../core/bytes.js");
    report = await fsck(database, { verifier: ed25519NoteVerifier("other", fromBase64(otherLogKey.pub)) });
    expect(report.mismatches.map((m) => m.kind)).toContain("checkpoint-signature");
  });
});
