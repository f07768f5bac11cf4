// The proofs' tile cache keeps N tiles with their interior hashes and RAW_TILES_PER_TILE × N
// plain tiles beside them (server/storage/log-store.ts): a proof whose tile's interior was
// evicted hashes it again from the plain bytes in memory instead of reading the database. At
// 10^7 leaves that made a random proof ~3× cheaper (bench/README.md, ninth session). Tile reads
// are counted by PostgreSQL's statistics views.

import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Database, openDatabase } from "../../node/db.js";
import { inclusionProofByIndex } from "../../server/routes/proofs.js";
import { LogStore, migrateLogDatabase, RAW_TILES_PER_TILE } from "../../server/storage/log-store.js";
import { createTestDatabase, type TestDatabase, tableReads } from "../helpers/db.js";

const TILES = 64; // level-0 tiles: more than the 16 interiors kept, fewer than the plain tiles kept
const SIZE = TILES * 256;

describe("the proofs' tile cache on PostgreSQL", () => {
  let tdb: TestDatabase;
  let database: Database;

  beforeAll(async () => {
    tdb = await createTestDatabase("tilecache");
    database = await openDatabase({ url: tdb.url, max: 1 });
    await migrateLogDatabase(database);
    // A tree of 64 full level-0 tiles and its partial level-1 tile, written straight into the
    // tiles table: what is counted here is reads, so any hashes do.
    await database.query(
      `insert into tiles (level, idx, data) select 0, i, $1::bytea from generate_series(0, $2::int - 1) i`,
      [randomBytes(8192), TILES],
    );
    await database.query("insert into tiles (level, idx, data) values (1, 0, $1::bytea)", [
      randomBytes(32 * TILES),
    ]);
  });
  afterAll(async () => {
    await database.close();
    await tdb.drop();
  });

  const tileReads = async () => (await tableReads(database, "tiles")).scans;

  it("answers proofs again from plain tiles in memory once their interiors are evicted", async () => {
    expect(16 * RAW_TILES_PER_TILE).toBeGreaterThan(TILES + 1);
    const store = new LogStore(database, { tileCacheSize: 16 });
    const indices = Array.from({ length: TILES }, (_, t) => t * 256 + ((t * 37) % 256));
    const before = await tileReads();
    const first = [];
    for (const i of indices) first.push(await inclusionProofByIndex(store, SIZE, i, SIZE));
    const afterFirst = await tileReads();
    // Every tile once (the level-1 tile too), a few more at most.
    expect(afterFirst - before).toBeGreaterThanOrEqual(TILES + 1);
    const second = [];
    for (const i of indices) second.push(await inclusionProofByIndex(store, SIZE, i, SIZE));
    expect(await tileReads()).toBe(afterFirst);
    expect(second).toEqual(first);
    // Not vacuous: each proof climbs the whole tree, and the interiors kept are far fewer.
    expect(first[0]!.hashes).toHaveLength(14);
  });
});
