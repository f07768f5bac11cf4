// The store keeps recent tiles' bytes in memory, keyed by tile. The key used to be
// `level·2^46 + index`, so tile 0/2^46 and tile 1/0 shared one: once tile 1/0 was full (a log
// of 65,536 leaves), GET /tile/0/<2^46> answered tile 1/0's bytes, marked immutable for a year.
// Every tile has its own key now, and a tile beyond the tree is 404 whatever the cache holds.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FULL_TILE_BYTES, formatTileIndex } from "../../core/tile-paths.js";
import { History, testKey } from "../helpers/events.js";
import { createStorage, startTestServer, type TestServer, type TestStorage } from "./http-harness.js";

const h = new History();
const root = testKey("tile-key-root");
let storage: TestStorage;
let s: TestServer;

beforeAll(async () => {
  storage = await createStorage("postgres");
  s = await startTestServer(storage, { clock: () => h.now });
  expect((await s.post(h.append(h.orgCreate("acme", { admins: [root] })).envelope)).status).toBe(200);
  // What the sequencer remembers after committing a tree of 65,536 leaves: tile 1/0, full.
  s.server.store.rememberTile(1, 0, new Uint8Array(FULL_TILE_BYTES).fill(0xab));
});

afterAll(async () => {
  await s?.stop();
  await storage?.dispose();
});

describe("tile cache keys", () => {
  const far = 2 ** 46;

  it("tile 0/2^46 is not tile 1/0 in the store", async () => {
    expect((await s.server.store.readTile(1, 0))?.[0]).toBe(0xab);
    expect(await s.server.store.readTile(0, far)).toBeUndefined();
  });

  it("GET /tile/0/<2^46> is 404, full or partial, and never another tile's bytes", async () => {
    expect(formatTileIndex(far)).toBe("x070/x368/x744/x177/664");
    for (const path of [`/tile/0/${formatTileIndex(far)}`, `/tile/0/${formatTileIndex(far)}.p/1`]) {
      const res = await s.request(path);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code).toBe("NOT_FOUND");
      expect(res.headers.get("cache-control") ?? "").not.toContain("immutable");
    }
    // The tiles the tree has are still served.
    const ok = await s.request("/tile/0/000.p/2");
    expect(ok.status).toBe(200);
    expect((await ok.arrayBuffer()).byteLength).toBe(64);
  });
});
