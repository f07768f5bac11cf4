// With a publish quorum, the tree above the latest checkpoint the witnesses cosigned is committed
// but not public: every read route answers as of the published checkpoint, never from what was
// committed after it. A log with one witness and a publish quorum of 1 publishes while its
// witness is up; then the witness goes away and more writes commit (an admin added, a grant
// revoked, a key added and the account suspended, a new account, and enough accounts to fill a
// whole tile). Every read route must answer exactly what it answered before those writes, and
// anything only the unpublished writes made must be absent.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { parseEnvelope } from "../../core/event.js";
import { parseNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { FULL_TILE_BYTES } from "../../core/tile-paths.js";
import { parseWitnessConfig } from "../../witness/config.js";
import { type RunningWitness, startWitness, stopWitness } from "../../witness/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { admin, History, self, testKey } from "../helpers/events.js";
import { tempDir, witnessConfig, witnessKey } from "../witness/helpers.js";
import {
  createStorage,
  type Json,
  startTestServer,
  type TestServer,
  type TestStorage,
} from "./http-harness.js";

const ORIGIN = "test.trustlog.example/log";
const h = new History();
const root = testKey("published-root");
const root2 = testKey("published-root2");
const bridge = testKey("published-bridge");
const aliceKey = testKey("published-alice");
const aliceKey2 = testKey("published-alice2");

let storage: TestStorage;
let witnessDb: TestDatabase;
let witness: RunningWitness | undefined;
let s: TestServer;

/** Status and body of a GET, JSON or bytes (base64), as compared before and after. */
async function read(path: string): Promise<{ status: number; body: Json }> {
  const res = await s.request(path);
  const type = res.headers.get("content-type") ?? "";
  const body = type.includes("json")
    ? await res.json()
    : type.includes("octet-stream")
      ? toBase64(new Uint8Array(await res.arrayBuffer()))
      : await res.text();
  return { status: res.status, body };
}

async function post(envelope: unknown) {
  const r = await s.post(envelope);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r;
}

const publishedSize = async () => parseCheckpoint(parseNote((await read("/checkpoint")).body).body).size;

// The routes and queries whose answers must not move while nothing new is published.
const ROUTES = [
  "/checkpoint",
  "/v1/orgs/acme",
  "/v1/orgs/acme/accounts/alice",
  "/v1/orgs/acme/proof",
  "/v1/orgs/acme/accounts/alice/proof",
  "/v1/orgs/acme/accounts/alice/proof?from=2",
  "/v1/orgs/acme/lookup",
  "/v1/orgs/acme/accounts/alice/lookup",
  "/v1/orgs/acme/accounts/bob/lookup",
  "/v1/proof/inclusion?index=3",
  "/v1/proof/consistency?from=2",
];

let published = 0;
const before = new Map<string, { status: number; body: Json }>();
let bobLeafHash = "";

beforeAll(async () => {
  storage = await createStorage("postgres");
  witnessDb = await createTestDatabase("published_reads_witness");
  // The log key first: the witness must know it.
  s = await startTestServer(storage, { clock: () => h.now });
  const logVkey = s.server.key.vkey;
  await s.stop();
  const key = witnessKey("published-witness.test", 61);
  witness = await startWitness(
    parseWitnessConfig(
      witnessConfig({
        dir: tempDir(),
        key,
        logs: [{ origin: ORIGIN, vkeys: [logVkey] }],
        databaseUrl: witnessDb.url,
      }),
    ),
  );
  s = await startTestServer(storage, {
    clock: () => h.now,
    config: {
      witnesses: [{ name: parseVerifierKey(key.vkey).name, vkey: key.vkey, url: witness.url }],
      quorum: 1,
      publishQuorum: 1,
      quorumWaitMs: 300,
      witnessRefreshSeconds: 0,
    },
  });

  // Published: each write is answered once the witness cosigned a checkpoint covering it.
  await post(h.append(h.orgCreate("acme", { admins: [root] })).envelope);
  await post(
    h.append(h.grantIssue("acme", { id: "g1", delegate: bridge, ops: ["account.invite"] }, admin(root)))
      .envelope,
  );
  await post(h.append(h.invite("acme", "alice", admin(root))).envelope);
  await post(h.append(h.keyAdd("acme", "alice", aliceKey)).envelope);
  published = await publishedSize();
  expect(published).toBe(8); // four events, each closed by an index leaf
  for (const path of ROUTES) before.set(path, await read(path));
  before.set("/v1/entries/7", await read("/v1/entries/7"));
  before.set(`/tile/0/000.p/${published}`, await read(`/tile/0/000.p/${published}`));
  before.set(`/tile/entries/000.p/${published}`, await read(`/tile/entries/000.p/${published}`));

  // The witness goes away: what follows is committed, answered unwitnessed, and not published.
  await stopWitness(witness);
  witness = undefined;
  await post(h.append(h.adminAdd("acme", root2, admin(root))).envelope);
  await post(h.append(h.grantRevoke("acme", "g1", admin(root))).envelope);
  await post(h.append(h.keyAdd("acme", "alice", aliceKey2, { by: self(aliceKey) })).envelope);
  await post(h.append(h.suspend("acme", "alice", admin(root))).envelope);
  const bob = h.append(h.invite("acme", "bob", admin(root)));
  bobLeafHash = toBase64(parseEnvelope(bob.envelope).leafHash);
  await post(bob.envelope);
  const many = Array.from(
    { length: 260 },
    (_, i) => h.append(h.invite("acme", `u${i}`, admin(root))).envelope,
  );
  await post({ events: many });
}, 180_000);

afterAll(async () => {
  if (witness) await stopWitness(witness);
  await s?.stop();
  await storage?.dispose();
  await witnessDb?.drop();
});

describe("a log whose witnesses are away serves only its published checkpoint", () => {
  it("has committed past the published checkpoint (the scenario is real)", async () => {
    const committed = await s.server.store.treeSize();
    expect(committed).toBeGreaterThan(256 + published);
    expect(await publishedSize()).toBe(published);
    expect((await s.server.store.readTile(0, 0))?.length).toBe(FULL_TILE_BYTES);
    expect((await s.server.store.getOrg("acme"))?.admins).toHaveLength(2);
    expect((await s.server.store.getAccount("acme", "alice"))?.status).toBe("suspended");
  });

  it("every read route answers exactly as before the unpublished writes", async () => {
    for (const [path, was] of before) expect(await read(path), path).toEqual(was);
    // Spelled out for the state routes: nothing of what only the unpublished writes did.
    const org = before.get("/v1/orgs/acme")!.body;
    expect(org.admins).toEqual([root.pub]);
    expect(org.head.index).toBeLessThan(published);
    const alice = before.get("/v1/orgs/acme/accounts/alice")!.body;
    expect(alice.status).toBe("active");
    expect(alice.events.every((e: { index: number }) => e.index < published)).toBe(true);
    const bundle = before.get("/v1/orgs/acme/accounts/alice/proof")!.body;
    expect(parseCheckpoint(parseNote(bundle.checkpoint).body).size).toBe(published);
    expect(before.get("/v1/orgs/acme/accounts/alice/lookup")!.body.lookup.index).toBe(published - 1);
  });

  it("entries at or beyond the published size are 404", async () => {
    expect((await read(`/v1/entries/${published - 1}`)).status).toBe(200);
    expect((await read(`/v1/entries/${published}`)).status).toBe(404);
    expect((await read(`/v1/entries/${published + 5}`)).status).toBe(404);
  });

  it("tiles and entry bundles beyond the published size are 404, the committed full tile too", async () => {
    expect((await read(`/tile/0/000.p/${published + 1}`)).status).toBe(404);
    expect((await read("/tile/0/000")).status).toBe(404);
    expect((await read("/tile/entries/000")).status).toBe(404);
    expect((await read(`/tile/entries/000.p/${published + 1}`)).status).toBe(404);
    expect((await read("/tile/0/001.p/1")).status).toBe(404);
  });

  it("proofs reach no further than the published size", async () => {
    const byIndex = await read(`/v1/proof/inclusion?index=${published}`);
    expect(byIndex.status).toBe(404);
    const byHash = await read(`/v1/proof/inclusion?leafHash=${encodeURIComponent(bobLeafHash)}`);
    expect(byHash.status).toBe(404);
    expect(byHash.body.error.code).toBe("NOT_FOUND");
    const tooBig = await read(`/v1/proof/inclusion?index=0&size=${published + 2}`);
    expect(tooBig.body.error.code).toBe("OUT_OF_RANGE");
    const cons = await read(`/v1/proof/consistency?from=2&to=${published + 2}`);
    expect(cons.body.error.code).toBe("OUT_OF_RANGE");
  });

  it("so do proofs asked over the socket in the fast path's form (server/fast-proofs.ts)", async () => {
    const overSocket = async (path: string) => {
      const res = await fetch(`${s.server.url}${path}`);
      return { status: res.status, body: (await res.json()) as Json };
    };
    // The app has answered proofs already (ROUTES), so the fast path is on.
    expect(s.server.fastProofs.ready).toBe(true);
    const answered = s.server.fastProofs.answered;
    const ok = await overSocket(`/v1/proof/inclusion?index=3&size=${published}`);
    expect(ok.status).toBe(200);
    expect(s.server.fastProofs.answered).toBe(answered + 1);
    expect(ok).toEqual(await read(`/v1/proof/inclusion?size=${published}&index=3`));
    // Committed, not published: every tile these need is in the database, and still refused.
    for (const size of [published + 1, published + 2, published + 257]) {
      const r = await overSocket(`/v1/proof/inclusion?index=0&size=${size}`);
      expect(r.body.error.code, String(size)).toBe("OUT_OF_RANGE");
    }
    const r = await overSocket(`/v1/proof/inclusion?index=${published}&size=${published}`);
    expect(r.body.error.code).toBe("NOT_FOUND");
    expect(s.server.fastProofs.answered).toBe(answered + 1);
  });

  it("an account and its history that exist only unpublished are 404", async () => {
    for (const path of [
      "/v1/orgs/acme/accounts/bob",
      "/v1/orgs/acme/accounts/bob/proof",
      "/v1/orgs/acme/accounts/u0",
      "/v1/orgs/acme/accounts/u0/proof",
    ]) {
      const r = await read(path);
      expect(r.status, path).toBe(404);
    }
  });
});
