// End to end: `trustlog serve` as a real process on PostgreSQL, the demo flow over HTTP, and
// then everything the server said checked with core/ alone, the way an independent auditor
// would: signed checkpoints, inclusion and consistency proofs, and the tree rebuilt from tiles
// and entry bundles fetched over HTTP. The log appends its own index leaf after each batch
// (DESIGN.md §4 "The index of chain heads"), so a batch of k events at size s takes the indices
// s..s+k-1, its index leaf s+k, and its checkpoint has size s+k+1; the lookup answers are
// checked against that index with core alone too.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { type ChainHead, checkLookup, type LookupJson, parseLogEntry } from "../../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { decodeEntryBundle } from "../../core/entry-bundle.js";
import { leafHash, memoryHashReader, rootHash } from "../../core/merkle.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkConsistency, checkInclusion } from "../../core/proof.js";
import { entriesPath, TILE_WIDTH, tilePath } from "../../core/tile-paths.js";
import { tileHashReader } from "../../core/tile-reader.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";

const ORIGIN = "e2e.trustlog.example/log";

interface DemoSummary {
  org: string;
  events: {
    label: string;
    type: string;
    subject: string;
    index: number;
    leafHash: string;
    inclusion: string[];
    checkpoint: string;
  }[];
  refused: { code: string; status: number };
}

/** What `trustlog demo --accounts 4` submits, one POST (so one sequencer batch) each. */
const DEMO_BATCHES = [1, 1, 4, 4];

/**
 * Where the rule puts the events of sequential batches: for each event its index, and the size
 * of the checkpoint its batch committed under (one index leaf after each batch).
 */
function expectedPlacement(batches: number[]): { indices: number[]; sizes: number[]; size: number } {
  const indices: number[] = [];
  const sizes: number[] = [];
  let size = 0;
  for (const k of batches) {
    for (let i = 0; i < k; i++) {
      indices.push(size + i);
      sizes.push(size + k + 1);
    }
    size += k + 1;
  }
  return { indices, sizes, size };
}

interface LookupAnswer {
  checkpoint: string;
  org: string;
  account?: string;
  lookup: LookupJson;
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
    const placed = expectedPlacement(DEMO_BATCHES);
    expect(summary.events.map((e) => e.index)).toEqual(placed.indices);
    expect(summary.events.map((e) => open(e.checkpoint).size)).toEqual(placed.sizes);

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
    expect(latest.size).toBe(placed.size);
    expect(latest.size).toBe(summary.events.length + DEMO_BATCHES.length);
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
    const entries: Uint8Array[] = [];
    for (let n = 0; n * TILE_WIDTH < latest.size; n++) {
      const width = Math.min(TILE_WIDTH, latest.size - n * TILE_WIDTH);
      const bundle = new Uint8Array(await (await get(`/${entriesPath(n, width)}`)).arrayBuffer());
      entries.push(...decodeEntryBundle(bundle));
    }
    const leaves = entries.map((entry) => leafHash(entry));
    for (const e of summary.events) expect(toBase64(leaves[e.index]!)).toBe(e.leafHash);
    expect(toBase64(await rootHash(latest.size, memoryHashReader(leaves)))).toBe(toBase64(latest.root));

    // Every entry parses; exactly the leaves after each batch are the log's index leaves, each
    // at its own index, and the last leaf of every checkpoint the demo saw is one of them.
    const kinds = entries.map((leaf) => parseLogEntry(leaf));
    const eventIndices = new Set(summary.events.map((e) => e.index));
    kinds.forEach((entry, index) => {
      expect(entry.kind, `entry ${index}`).toBe(eventIndices.has(index) ? "event" : "index");
      if (entry.kind === "index") expect(entry.leaf.size).toBe(index);
    });
    for (const e of summary.events) expect(kinds[open(e.checkpoint).size - 1]!.kind).toBe("index");

    // The final checkpoint's last leaf is an index leaf in its tree.
    const lastIndex = latest.size - 1;
    const last = kinds[lastIndex]!;
    if (last.kind !== "index") throw new Error(`the final checkpoint's last leaf is not an index leaf`);
    const lastProof = (await (
      await get(`/v1/proof/inclusion?index=${lastIndex}&size=${latest.size}`)
    ).json()) as {
      leafHash: string;
      hashes: string[];
    };
    expect(lastProof.leafHash).toBe(toBase64(leaves[lastIndex]!));
    checkInclusion(leaves[lastIndex]!, lastIndex, latest.size, lastProof.hashes.map(fromBase64), latest.root);

    // Lookups: the index proves each demo account's head (its last event) and the org's, and
    // proves an account the demo never invited absent.
    const headOf = (subject: string): ChainHead => {
      const chain = summary.events.filter((e) => e.subject === subject);
      const head = chain[chain.length - 1]!;
      return { seq: chain.length - 1, index: head.index, leafHash: fromBase64(head.leafHash) };
    };
    const orgHead = headOf(summary.org);
    expect(orgHead.seq).toBe(1); // org.create, grant.issue
    const accounts = [
      ...new Set(summary.events.filter((e) => e.subject !== summary.org).map((e) => e.subject)),
    ];
    expect(accounts).toHaveLength(4);
    const lookup = async (account: string): Promise<{ cp: Checkpoint; answer: LookupAnswer }> => {
      const answer = (await (
        await get(
          `/v1/orgs/${encodeURIComponent(summary.org)}/accounts/${encodeURIComponent(account)}/lookup`,
        )
      ).json()) as LookupAnswer;
      expect(answer).toMatchObject({ org: summary.org, account });
      const cp = open(answer.checkpoint);
      // Nothing was appended since: the lookup is against the final checkpoint.
      expect(cp.size).toBe(latest.size);
      expect(toBase64(cp.root)).toBe(toBase64(latest.root));
      return { cp, answer };
    };
    for (const account of accounts) {
      const head = headOf(account);
      expect(head.seq).toBe(1); // account.invite, key.add
      const { cp, answer } = await lookup(account);
      const leaf = checkLookup(cp, answer.lookup, [
        { kind: "org", org: summary.org, claimed: orgHead },
        { kind: "account", org: summary.org, account, claimed: head },
      ]);
      expect(leaf.size).toBe(lastIndex);
      expect(toBase64(leaf.root)).toBe(toBase64(last.leaf.root));
    }
    const absent = `nobody@${summary.org}.example`;
    const { cp, answer } = await lookup(absent);
    expect(
      checkLookup(cp, answer.lookup, [
        { kind: "org", org: summary.org, claimed: orgHead },
        { kind: "account", org: summary.org, account: absent, claimed: undefined },
      ]).size,
    ).toBe(lastIndex);
    // And the same proof does not let the absent account pass for one with a history.
    expect(() =>
      checkLookup(cp, answer.lookup, [
        { kind: "account", org: summary.org, account: absent, claimed: headOf(accounts[0]!) },
      ]),
    ).toThrow(expect.objectContaining({ code: "HISTORY_FORKED" }));
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
