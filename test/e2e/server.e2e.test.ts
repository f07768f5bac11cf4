// End to end: `trustlog serve` as a real process on PostgreSQL, the demo flow over HTTP, and
// then everything the server said checked with core/ alone, the way an independent auditor
// would: signed checkpoints, inclusion and consistency proofs, and the tree rebuilt from tiles
// and entry bundles fetched over HTTP.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { type Checkpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { leafHash, memoryHashReader, rootHash } from "../../core/merkle.js";
import { openNote, parseVerifierKey } from "../../core/note.js";
import { checkConsistency, checkInclusion } from "../../core/proof.js";
import { decodeEntryBundle, entriesPath, TILE_WIDTH, tileHashReader, tilePath } from "../../core/tiles.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";

const ORIGIN = "e2e.trustlog.example/log";

interface DemoSummary {
  org: string;
  events: { label: string; index: number; leafHash: string; inclusion: string[]; checkpoint: string }[];
  refused: { code: string; status: number };
}

describe("trustlog serve, end to end", () => {
  let db: TestDatabase;
  let dir: string;
  let log: TrustlogProcess;
  let vkey: string;

  beforeAll(async () => {
    db = await createTestDatabase("e2e");
    dir = mkdtempSync(join(tmpdir(), "trustlog-e2e-"));
    const keygen = await runTrustlog(["keygen", "--name", ORIGIN, "--out", join(dir, "log.key")]);
    expect(keygen.code).toBe(0);
    vkey = keygen.stdout.trim();
    log = await startTrustlog([
      "serve",
      "--database-url",
      db.url,
      "--key-file",
      join(dir, "log.key"),
      "--origin",
      ORIGIN,
      "--data-dir",
      dir,
      "--log-level",
      "info",
    ]);
  });

  afterAll(async () => {
    await log?.stop("SIGKILL");
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const open = (text: string): Checkpoint => parseCheckpoint(openNote(text, [parseVerifierKey(vkey)]).body);
  const get = async (path: string) => {
    const res = await fetch(log.url + path);
    expect(res.status, path).toBe(200);
    return res;
  };

  it("runs the demo, and every answer checks out with core alone", async () => {
    const pinned = (await (await get("/v1/log")).json()) as { origin: string; vkey: string };
    expect(pinned).toMatchObject({ origin: ORIGIN, vkey });

    const demo = await runTrustlog(["demo", "--log", log.url, "--json", "--accounts", "4"]);
    expect(demo.code, demo.stderr).toBe(0);
    const summary = JSON.parse(demo.stdout) as DemoSummary;
    expect(summary.events.map((e) => e.label)).toHaveLength(2 + 4 + 4);
    expect(summary.refused).toEqual({ code: "DELEGATE_CANNOT_ADD_KEY", status: 403 });

    // Every inclusion proof against the signed checkpoint it came with.
    for (const e of summary.events) {
      const cp = open(e.checkpoint);
      checkInclusion(fromBase64(e.leafHash), e.index, cp.size, e.inclusion.map(fromBase64), cp.root);
    }

    // The latest checkpoint is consistent with the first one the demo saw.
    const first = open(summary.events[0]!.checkpoint);
    const latestRes = await get("/checkpoint");
    expect(latestRes.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const latest = open(await latestRes.text());
    expect(latest.origin).toBe(ORIGIN);
    expect(latest.size).toBe(summary.events.length);
    const consistency = (await (
      await get(`/v1/proof/consistency?from=${first.size}&to=${latest.size}`)
    ).json()) as {
      hashes: string[];
    };
    checkConsistency(first.size, latest.size, first.root, latest.root, consistency.hashes.map(fromBase64));

    // The tree rebuilt from tiles served over HTTP has the signed root.
    const reader = tileHashReader(
      async (t) => new Uint8Array(await (await get(`/${tilePath(t)}`)).arrayBuffer()),
      latest.size,
    );
    expect(toBase64(await rootHash(latest.size, reader))).toBe(toBase64(latest.root));

    // And so do the entries themselves, from the entry bundles.
    const leaves: Uint8Array[] = [];
    for (let n = 0; n * TILE_WIDTH < latest.size; n++) {
      const width = Math.min(TILE_WIDTH, latest.size - n * TILE_WIDTH);
      const bundle = new Uint8Array(await (await get(`/${entriesPath(n, width)}`)).arrayBuffer());
      for (const entry of decodeEntryBundle(bundle)) leaves.push(leafHash(entry));
    }
    for (const e of summary.events) expect(toBase64(leaves[e.index]!)).toBe(e.leafHash);
    expect(toBase64(await rootHash(latest.size, memoryHashReader(leaves)))).toBe(toBase64(latest.root));
  });

  it("stops cleanly on SIGTERM, and fsck finds the log sound", async () => {
    const code = await log.stop("SIGTERM");
    expect(code).toBe(0);
    expect(log.stderr()).toContain("log server stopped");
    const fsck = await runTrustlog(["fsck", "--database-url", db.url, "--vkey", vkey]);
    expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0);
    expect(fsck.stdout).toContain("OK");
  });
});
