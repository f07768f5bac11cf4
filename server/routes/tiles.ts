// The C2SP tlog-tiles read API: /checkpoint, hash tiles and entry bundles. Everything here can
// sit behind a CDN or be mirrored to a static store: a tile path names bytes that never change,
// so they are cached forever; only /checkpoint moves. A full tile's answer is also kept in
// memory and served again before the app runs (server/immutable-responses.ts): what this route
// marks IMMUTABLE must be exactly what may be kept, a full tile within the published tree.

import { Hono } from "hono";
import { encodeEntryBundle } from "../../core/entry-bundle.js";
import { TrustlogError } from "../../core/errors.js";
import { parseTilePath, TILE_WIDTH } from "../../core/tile-paths.js";
import type { AppDeps } from "../app.js";
import { IMMUTABLE } from "../immutable-responses.js";

const HASH = 32;

export function tileRoutes(deps: AppDeps): Hono {
  const app = new Hono();

  app.get("/checkpoint", async (c) => {
    const cp = await deps.latest.get();
    if (!cp) throw new TrustlogError("NOT_FOUND", "the log has not published a checkpoint yet");
    // Cosignature lines are note signature lines, so they append after the log's own.
    return c.body(cp.note + cp.cosignatures.join(""), 200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Cache-Control": "no-cache",
    });
  });

  app.get("/tile/*", async (c) => {
    const tile = parseTilePath(c.req.path.slice(1));
    // Nothing beyond the published size is served (with a publish quorum, the tree above the
    // latest witnessed checkpoint is committed but not public yet), full tiles included.
    const size = (await deps.latest.get())?.size ?? 0;
    const level = tile.kind === "hash" ? tile.level : 0;
    // How many hashes tile (level, index) holds at the published size: 256 for a full tile,
    // the partial width for the last one, 0 beyond. A partial tile of any width up to that is
    // a prefix of the stored bytes, so every size ever published can still be served.
    const below = Math.floor(size / TILE_WIDTH ** level);
    const available = Math.max(0, Math.min(TILE_WIDTH, below - tile.index * TILE_WIDTH));
    if (tile.width > available) {
      throw new TrustlogError("NOT_FOUND", `tile ${c.req.path.slice(1)} is beyond the tree of size ${size}`);
    }
    let body: Uint8Array;
    if (tile.kind === "hash") {
      // The store keeps recent tiles' bytes in memory: a full tile is served from there as it is.
      const data = await deps.store.readTile(tile.level, tile.index);
      if (!data || data.length < tile.width * HASH) {
        throw new TrustlogError("INTERNAL", `tile ${tile.level}/${tile.index} is missing from storage`);
      }
      body = data.subarray(0, tile.width * HASH);
    } else {
      const entries = await deps.store.readEntries(tile.index * TILE_WIDTH, tile.width);
      if (entries.length !== tile.width) {
        throw new TrustlogError("INTERNAL", `entries of tile ${tile.index} are missing from storage`);
      }
      body = encodeEntryBundle(entries);
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": "application/octet-stream",
      "Cache-Control": tile.width === TILE_WIDTH ? IMMUTABLE : "public, max-age=3600",
    });
  });

  return app;
}
