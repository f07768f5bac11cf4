// The read API (tiles, checkpoint, proofs, lookups, health) on PostgreSQL and on PGlite,
// checked the way an independent client would: with core alone, from bytes served over HTTP.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyBundle } from "../../client/bundle.js";
import { compileWitnessPolicy } from "../../client/witness-policy.js";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { type ChainHead, checkLookup, isIndexLeaf, parseIndexLeaf } from "../../core/chain-index.js";
import { type Checkpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { decodeEntryBundle } from "../../core/entry-bundle.js";
import { isTrustlogError } from "../../core/errors.js";
import { leafHash, rootHash } from "../../core/merkle.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkConsistency, checkInclusion } from "../../core/proof.js";
import { type TileId, tilePath } from "../../core/tile-paths.js";
import { tileHashReader } from "../../core/tile-reader.js";
import { admin, History, testKey } from "../helpers/events.js";
import {
  BACKENDS,
  batch,
  createStorage,
  startTestServer,
  type TestServer,
  type TestStorage,
} from "./http-harness.js";
import { LogLayout } from "./log-layout.js";

const INVITES = 300;

describe.each(BACKENDS)("read API on %s", (backend) => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const root = testKey("root");
  let first: Checkpoint;
  let latest: Checkpoint;
  /** Three requests, three batches: each closed by its index leaf. */
  const layout = new LogLayout();

  /** The model's leaf hash at a log index (an event's; index leaves are not in the History). */
  const eventHash = (logIndex: number) => {
    const at = layout.historyIndex(logIndex);
    if (at === undefined) throw new Error(`log index ${logIndex} is an index leaf`);
    return h.entries[at]!.leafHash;
  };

  const checkpointOf = (text: string) =>
    parseCheckpoint(openNote(text, [parseVerifierKey(t.server.key.vkey)]).body);

  beforeAll(async () => {
    storage = await createStorage(backend);
    t = await startTestServer(storage, { clock: () => h.now });
    const create = h.orgCreate("acme", { admins: [root] });
    const r1 = await t.post(create);
    expect(r1.status).toBe(200);
    h.append(create);
    expect(r1.json.results.map((r: { index: number }) => r.index)).toEqual(layout.batch(1));
    first = checkpointOf(r1.json.checkpoint);
    expect(first.size).toBe(layout.size);
    const invites = Array.from({ length: INVITES }, (_, i) => h.invite("acme", `user${i}`, admin(root)));
    const r2 = await t.post(batch(invites));
    expect(r2.status).toBe(200);
    for (const e of invites) h.append(e);
    expect(r2.json.results.map((r: { index: number }) => r.index)).toEqual(layout.batch(INVITES));
    const add = h.keyAdd("acme", "user0", testKey("user0-key"));
    const r3 = await t.post(add);
    expect(r3.status).toBe(200);
    h.append(add);
    expect(r3.json.results.map((r: { index: number }) => r.index)).toEqual(layout.batch(1));
    latest = checkpointOf(r3.json.checkpoint);
    // INVITES + 2 events and three index leaves.
    expect(latest.size).toBe(INVITES + 2 + 3);
    expect(latest.size).toBe(layout.size);
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  it("GET /v1/log tells a client what to pin", async () => {
    const { status, json } = await t.getJson("/v1/log");
    expect(status).toBe(200);
    expect(json).toEqual({
      origin: "test.trustlog.example/log",
      vkey: t.server.key.vkey,
      witnesses: [],
      quorum: 0,
    });
  });

  it("GET /checkpoint serves the signed note as text, never cached for long", async () => {
    const res = await t.request("/checkpoint");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(checkpointOf(await res.text())).toEqual(latest);
  });

  it("serves full and partial hash tiles, and the root recomputes from them", async () => {
    const full = await t.request("/tile/0/000");
    expect(full.status).toBe(200);
    expect(full.headers.get("content-type")).toBe("application/octet-stream");
    expect(full.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect(bytes.length).toBe(8192);
    expect(toBase64(bytes.subarray(0, 32))).toBe(toBase64(h.entries[0]!.leafHash));

    const width = latest.size % 256;
    const partial = await t.request(`/tile/0/001.p/${width}`);
    expect(partial.status).toBe(200);
    expect((await partial.arrayBuffer()).byteLength).toBe(width * 32);
    // Any narrower partial (an older tree size) is a prefix of the current one.
    const older = new Uint8Array(await (await t.request("/tile/0/001.p/3")).arrayBuffer());
    expect(toBase64(older)).toBe(toBase64([256, 257, 258].map(eventHash).reduce(concat2)));

    const reader = tileHashReader(async (tile: TileId) => {
      const res = await t.request(`/${tilePath(tile)}`);
      expect(res.status).toBe(200);
      return new Uint8Array(await res.arrayBuffer());
    }, latest.size);
    expect(toBase64(await rootHash(latest.size, reader))).toBe(toBase64(latest.root));
    expect(
      toBase64(
        await rootHash(
          first.size,
          tileHashReader(
            async (tile) => new Uint8Array(await (await t.request(`/${tilePath(tile)}`)).arrayBuffer()),
            first.size,
          ),
        ),
      ),
    ).toBe(toBase64(first.root));
  });

  it("serves entry bundles whose entries hash to the tiles' leaves", async () => {
    const res = await t.request("/tile/entries/000");
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const entries = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()));
    expect(entries).toHaveLength(256);
    // The events the History holds, and between the batches their index leaves, each at its index.
    entries.forEach((e, i) => {
      if (layout.isIndexLeaf(i)) {
        expect(isIndexLeaf(e)).toBe(true);
        expect(parseIndexLeaf(e).size).toBe(i);
      } else expect(toBase64(leafHash(e))).toBe(toBase64(eventHash(i)));
    });
    expect(entries.filter((e) => isIndexLeaf(e))).toHaveLength(1);
    const width = latest.size % 256;
    const p = await t.request(`/tile/entries/001.p/${width}`);
    expect(decodeEntryBundle(new Uint8Array(await p.arrayBuffer()))).toHaveLength(width);
  });

  it.each([
    ["/tile/0/001", 404, "NOT_FOUND"],
    [`/tile/0/001.p/255`, 404, "NOT_FOUND"],
    ["/tile/0/002.p/1", 404, "NOT_FOUND"],
    ["/tile/1/000", 404, "NOT_FOUND"],
    ["/tile/2/000.p/1", 404, "NOT_FOUND"],
    ["/tile/entries/001", 404, "NOT_FOUND"],
    ["/tile/0/1", 400, "BAD_TILE_PATH"],
    ["/tile/0/000.p/256", 400, "BAD_TILE_PATH"],
    ["/tile/0/000.p/0", 400, "BAD_TILE_PATH"],
    ["/tile/0/x000/001", 400, "BAD_TILE_PATH"],
    ["/tile/64/000", 400, "BAD_TILE_PATH"],
    ["/tile/nope", 400, "BAD_TILE_PATH"],
  ])("GET %s → %i %s", async (path, status, code) => {
    const { status: s, json } = await t.getJson(path);
    expect(s).toBe(status);
    expect(json.error.code).toBe(code);
  });

  it("proves inclusion by index or by leaf hash, at the latest or an older size", async () => {
    const lastIndexLeaf = await t.getJson(`/v1/entries/${latest.size - 1}`);
    const indexLeafHash = fromBase64(lastIndexLeaf.json.leafHash);
    for (const [query, index, hash, size] of [
      ["index=7", 7, eventHash(7), latest.size],
      [
        `leafHash=${encodeURIComponent(toBase64(h.entries[42]!.leafHash))}`,
        layout.index(42),
        h.entries[42]!.leafHash,
        latest.size,
      ],
      [`index=0&size=${first.size}`, 0, eventHash(0), first.size],
      // The checkpoint's last leaf: its index leaf.
      [`index=${latest.size - 1}`, latest.size - 1, indexLeafHash, latest.size],
    ] as const) {
      const { status, json } = await t.getJson(`/v1/proof/inclusion?${query}`);
      expect(status).toBe(200);
      expect(json).toMatchObject({ index, size, leafHash: toBase64(hash) });
      const rootAt = size === latest.size ? latest.root : first.root;
      checkInclusion(hash, index, size, json.hashes.map(fromBase64), rootAt);
    }
  });

  it("proves consistency between two checkpoints", async () => {
    const { status, json } = await t.getJson(`/v1/proof/consistency?from=${first.size}&to=${latest.size}`);
    expect(status).toBe(200);
    expect(json.from).toBe(first.size);
    checkConsistency(first.size, latest.size, first.root, latest.root, json.hashes.map(fromBase64));
    const dflt = await t.getJson(`/v1/proof/consistency?from=${first.size}`);
    expect(dflt.json.to).toBe(latest.size);
    expect((await t.getJson(`/v1/proof/consistency?from=0&to=5`)).json.hashes).toEqual([]);
  });

  it.each([
    ["/v1/proof/inclusion", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?index=abc", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?index=01", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?index=-1", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?index=1&leafHash=AA==", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?leafHash=AA==", 400, "BAD_QUERY"],
    ["/v1/proof/inclusion?leafHash=not*base64", 400, "BAD_QUERY"],
    [`/v1/proof/inclusion?leafHash=${encodeURIComponent(toBase64(new Uint8Array(32)))}`, 404, "NOT_FOUND"],
    ["/v1/proof/inclusion?index=100000", 404, "NOT_FOUND"],
    ["/v1/proof/inclusion?index=5&size=3", 400, "OUT_OF_RANGE"],
    ["/v1/proof/inclusion?index=5&size=100000", 400, "OUT_OF_RANGE"],
    ["/v1/proof/consistency", 400, "BAD_QUERY"],
    ["/v1/proof/consistency?from=5&to=3", 400, "OUT_OF_RANGE"],
    ["/v1/proof/consistency?from=1&to=100000", 400, "OUT_OF_RANGE"],
    ["/v1/proof/consistency?from=1.5", 400, "BAD_QUERY"],
  ])("GET %s → %i %s", async (path, status, code) => {
    const { status: s, json } = await t.getJson(path);
    expect(s).toBe(status);
    expect(json.error.code).toBe(code);
  });

  it("GET /v1/entries/<index> returns the envelope as logged, and an index leaf as logged", async () => {
    const at = layout.index(1);
    const { status, json } = await t.getJson(`/v1/entries/${at}`);
    expect(status).toBe(200);
    expect(json).toEqual({
      index: at,
      leafHash: toBase64(h.entries[1]!.leafHash),
      envelope: h.entries[1]!.envelope,
    });
    const leafAt = layout.indexLeaves[0]!;
    const leaf = await t.getJson(`/v1/entries/${leafAt}`);
    expect(leaf.status).toBe(200);
    expect(leaf.json).toMatchObject({ index: leafAt, envelope: { type: "log.index", v: 1, size: leafAt } });
    expect((await t.getJson("/v1/entries/100000")).status).toBe(404);
    expect((await t.getJson("/v1/entries/abc")).json.error.code).toBe("BAD_QUERY");
  });

  it("GET /v1/orgs/<org> returns admins, grants, head and the org's events with proofs", async () => {
    const { status, json } = await t.getJson("/v1/orgs/acme");
    expect(status).toBe(200);
    expect(json).toMatchObject({ id: "acme", admins: [root.pub], threshold: 1, head: { seq: 0, index: 0 } });
    const cp = checkpointOf(json.checkpoint);
    expect(json.events).toHaveLength(1);
    checkInclusion(
      fromBase64(json.events[0].leafHash),
      0,
      cp.size,
      json.events[0].inclusion.map(fromBase64),
      cp.root,
    );
    expect((await t.getJson("/v1/orgs/nope")).json.error.code).toBe("NOT_FOUND");
    expect((await t.getJson("/v1/orgs/bad%20id")).json.error.code).toBe("BAD_QUERY");
  });

  it("GET /v1/orgs/<org>/accounts/<account> returns status, keys and the history with proofs", async () => {
    const { status, json } = await t.getJson("/v1/orgs/acme/accounts/user0");
    expect(status).toBe(200);
    expect(json).toMatchObject({ org: "acme", id: "user0", status: "active" });
    expect(Object.keys(json.keys)).toEqual(["user0-key"]);
    const cp = checkpointOf(json.checkpoint);
    expect(json.events.map((e: { type: string }) => e.type)).toEqual(["account.invite", "key.add"]);
    for (const e of json.events) {
      checkInclusion(fromBase64(e.leafHash), e.index, cp.size, e.inclusion.map(fromBase64), cp.root);
    }
    expect((await t.getJson("/v1/orgs/acme/accounts/nobody")).status).toBe(404);
  });

  describe("lookups of the index of chain heads", () => {
    /** A lookup answer, served with the latest checkpoint, whose last leaf it goes through. */
    const lookup = async (path: string) => {
      const { status, json, res } = await t.getJson(path);
      expect(status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-cache");
      const cp = checkpointOf(json.checkpoint);
      expect(cp).toEqual(latest);
      expect(json.lookup.index).toBe(cp.size - 1);
      return { json, cp };
    };
    /** The code checkLookup refuses a claim with, or undefined when it passes. */
    const refusal = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        if (isTrustlogError(e)) return e.code;
        throw e;
      }
      return undefined;
    };
    const orgHead = () => layout.chainHead(h.head("acme"))!;
    const accountHead = (account: string) => layout.chainHead(h.head("acme", account))!;

    it("proves a present account's latest head, and no other", async () => {
      const { json, cp } = await lookup("/v1/orgs/acme/accounts/user0/lookup");
      expect(json).toMatchObject({ org: "acme", account: "user0" });
      const head = accountHead("user0");
      // The invite, then the key.add in the last batch.
      expect(head).toMatchObject({ seq: 1, index: latest.size - 2 });
      const leaf = checkLookup(cp, json.lookup, [
        { kind: "org", org: "acme", claimed: orgHead() },
        { kind: "account", org: "acme", account: "user0", claimed: head },
      ]);
      expect(leaf.size).toBe(cp.size - 1);
      // The index is the trie of every chain's head, as the model computes it.
      expect(toBase64(leaf.root)).toBe(toBase64(layout.trie(h).root()));

      const claim = (claimed: ChainHead | undefined) => () =>
        checkLookup(cp, json.lookup, [{ kind: "account", org: "acme", account: "user0", claimed }]);
      // A history that stops at the invite leaves the key.add out.
      const invite = h.entries[1]!;
      expect(invite.envelope.event).toMatchObject({ type: "account.invite", subject: "user0" });
      expect(refusal(claim({ seq: 0, index: layout.index(1), leafHash: invite.leafHash }))).toBe(
        "HISTORY_TRUNCATED",
      );
      // Another event at the latest seq: a fork.
      expect(refusal(claim({ ...head, leafHash: invite.leafHash }))).toBe("HISTORY_FORKED");
      expect(refusal(claim({ ...head, index: head.index - 1 }))).toBe("HISTORY_FORKED");
      // Claiming the account absent.
      expect(refusal(claim(undefined))).toBe("HISTORY_TRUNCATED");
      // Another account's head.
      expect(refusal(claim(accountHead("user1")))).toBeDefined();
    });

    it("proves an org's head on its own", async () => {
      const { json, cp } = await lookup("/v1/orgs/acme/lookup");
      expect(json.org).toBe("acme");
      expect(json.account).toBeUndefined();
      expect(json.lookup.account).toBeUndefined();
      checkLookup(cp, json.lookup, [{ kind: "org", org: "acme", claimed: orgHead() }]);
      expect(
        refusal(() => checkLookup(cp, json.lookup, [{ kind: "org", org: "acme", claimed: undefined }])),
      ).toBe("HISTORY_TRUNCATED");
      // A head (user0's, at seq 1) beyond the org's proved seq 0 is another branch.
      expect(
        refusal(() =>
          checkLookup(cp, json.lookup, [{ kind: "org", org: "acme", claimed: accountHead("user0") }]),
        ),
      ).toBe("HISTORY_FORKED");
    });

    it("proves an absent account absent, and refuses a claim of any head for it", async () => {
      const { json, cp } = await lookup("/v1/orgs/acme/accounts/nobody/lookup");
      expect(json).toMatchObject({ org: "acme", account: "nobody" });
      checkLookup(cp, json.lookup, [
        { kind: "org", org: "acme", claimed: orgHead() },
        { kind: "account", org: "acme", account: "nobody", claimed: undefined },
      ]);
      for (const claimed of [accountHead("user0"), accountHead("user7"), orgHead()]) {
        expect(
          refusal(() =>
            checkLookup(cp, json.lookup, [{ kind: "account", org: "acme", account: "nobody", claimed }]),
          ),
        ).toBe("HISTORY_FORKED");
      }
    });

    it("proves an absent org absent, with or without an account, and refuses a claim of any head", async () => {
      const org = await lookup("/v1/orgs/nope/lookup");
      expect(org.json).toMatchObject({ org: "nope" });
      checkLookup(org.cp, org.json.lookup, [{ kind: "org", org: "nope", claimed: undefined }]);
      expect(
        refusal(() =>
          checkLookup(org.cp, org.json.lookup, [{ kind: "org", org: "nope", claimed: orgHead() }]),
        ),
      ).toBe("HISTORY_FORKED");

      const both = await lookup("/v1/orgs/nope/accounts/user0/lookup");
      expect(both.json).toMatchObject({ org: "nope", account: "user0" });
      checkLookup(both.cp, both.json.lookup, [
        { kind: "org", org: "nope", claimed: undefined },
        { kind: "account", org: "nope", account: "user0", claimed: undefined },
      ]);
      for (const claimed of [accountHead("user0"), orgHead()]) {
        expect(
          refusal(() =>
            checkLookup(both.cp, both.json.lookup, [
              { kind: "account", org: "nope", account: "user0", claimed },
            ]),
          ),
        ).toBe("HISTORY_FORKED");
      }
      expect((await t.getJson("/v1/orgs/bad%20id/lookup")).json.error.code).toBe("BAD_QUERY");
      expect((await t.getJson("/v1/orgs/acme/accounts/bad%20id/lookup")).json.error.code).toBe("BAD_QUERY");
    });

    it("history bundles carry the lookup and the index leaves covering their events", async () => {
      const { status, json } = await t.getJson("/v1/orgs/acme/accounts/user0/proof");
      expect(status).toBe(200);
      const verified = verifyBundle(json, {
        log: { vkey: t.server.key.vkey },
        witnesses: compileWitnessPolicy({ witnesses: [], quorum: 0 }),
        org: "acme",
        account: "user0",
      });
      expect(verified.checkpoint).toEqual(latest);
      expect(verified.index.size).toBe(latest.size - 1);
      expect(verified.accountEvents.map((e) => e.index)).toEqual([
        layout.index(1),
        layout.index(INVITES + 1),
      ]);
      // Each event's covering index leaf is its batch's: the org.create's, the invites', the key.add's.
      expect(json.covers.map((c: { index: number }) => c.index)).toEqual(layout.indexLeaves);
      for (const c of json.covers) {
        const bytes = fromBase64(c.envelope);
        expect(parseIndexLeaf(bytes).size).toBe(c.index);
        checkInclusion(leafHash(bytes), c.index, latest.size, c.inclusion.map(fromBase64), latest.root);
      }
    });
  });

  it("answers health, readiness and metrics", async () => {
    expect((await t.getJson("/healthz")).json).toEqual({ status: "ok" });
    const ready = await t.getJson("/readyz");
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({
      status: "ready",
      database: "ok",
      sequencer: { leader: true },
      treeSize: latest.size,
    });
    const metrics = await (await t.request("/metrics")).text();
    for (const name of [
      "trustlog_queue_depth",
      "trustlog_sequencer_batch_size_bucket",
      "trustlog_append_latency_seconds_bucket",
      `trustlog_tree_size ${latest.size}`,
      'trustlog_http_requests_total{method="POST",route="/v1/events",status="200"}',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it("answers unknown routes with a JSON 404 and sets security headers and a request id", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["POST", "/checkpoint"],
      ["DELETE", "/v1/events"],
    ] as const) {
      const res = await t.request(path, { method });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
    const res = await t.request("/healthz");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    // Public data: browsers on any origin may read it.
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("cross-origin-resource-policy")).toBe("cross-origin");
  });
});

function concat2(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
