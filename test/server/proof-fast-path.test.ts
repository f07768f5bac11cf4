// The proof fast path (server/fast-proofs.ts): over a real socket, an inclusion proof asked as
// `?index=I&size=S` is answered before hono once the app has answered one proof, and the answer
// is the app's own, byte for byte and header for header (the app is reached with the same
// parameters in another order, which the fast path leaves to it). Every refusal still comes
// from the app, with its error code; a proof that is answered checks against the tree.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { InclusionProofAnswer } from "../../core/api-types.js";
import { fromBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkInclusion } from "../../core/proof.js";
import { inclusionProofByIndex } from "../../server/routes/proofs.js";
import { admin, History, testKey } from "../helpers/events.js";
import {
  batch,
  createStorage,
  stableHeaders,
  startTestServer,
  type TestServer,
  type TestStorage,
} from "./http-harness.js";

const INVITES = 300;

describe("the proof fast path", () => {
  let storage: TestStorage;
  let t: TestServer;
  let size: number;
  const h = new History();
  const root = testKey("root");

  const get = (path: string, init?: RequestInit) => fetch(`${t.server.url}${path}`, init);
  const fast = () => t.server.fastProofs.answered;
  const canonical = (index: number, n: number) => `/v1/proof/inclusion?index=${index}&size=${n}`;
  // The same question in another order: not the fast path's form, so the app answers it.
  const viaApp = (index: number, n: number) => `/v1/proof/inclusion?size=${n}&index=${index}`;

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, { clock: () => h.now });
    const create = h.orgCreate("acme", { admins: [root] });
    expect((await t.post(create)).status).toBe(200);
    h.append(create);
    const invites = Array.from({ length: INVITES }, (_, i) => h.invite("acme", `user${i}`, admin(root)));
    expect((await t.post(batch(invites))).status).toBe(200);
    size = (await t.getJson("/readyz")).json.treeSize;
    expect(size).toBeGreaterThan(256);
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  it("leaves the first proof to the app, then answers proofs itself, identically to the app", async () => {
    expect(t.server.fastProofs.ready).toBe(false);
    const first = await get(canonical(0, size));
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    expect(fast()).toBe(0);
    expect(t.server.fastProofs.ready).toBe(true);

    const checkpoint = parseCheckpoint(
      openNote(await (await get("/checkpoint")).text(), [parseVerifierKey(t.server.key.vkey)]).body,
    );
    const cases = [
      [0, size],
      [size - 1, size],
      [1, 2],
      [255, 256],
      [256, 257],
      [100, 300],
      [7, size - 1],
    ] as const;
    for (const [index, n] of cases) {
      // Asked twice: the first may read tiles (the route's function), the second is made from
      // the tile cache alone (LogStore.cachedInclusionProofText). Both must be the app's answer.
      for (const pass of [1, 2]) {
        const before = fast();
        const fromCache = t.server.fastProofs.answeredFromCache;
        const res = await get(canonical(index, n));
        const body = Buffer.from(await res.arrayBuffer());
        expect(res.status).toBe(200);
        expect(fast()).toBe(before + 1);
        if (pass === 2) expect(t.server.fastProofs.answeredFromCache).toBe(fromCache + 1);
        const app = await get(viaApp(index, n));
        const appBody = Buffer.from(await app.arrayBuffer());
        expect(fast()).toBe(before + 1);
        expect(body.toString()).toBe(appBody.toString());
        expect(stableHeaders(res)).toEqual(stableHeaders(app));
        expect(res.headers.get("content-length")).toBe(String(body.length));
        expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
        if (n === checkpoint.size) {
          const proof = JSON.parse(body.toString()) as InclusionProofAnswer;
          // Throws unless the proof leads to the checkpoint's root.
          checkInclusion(fromBase64(proof.leafHash), index, n, proof.hashes.map(fromBase64), checkpoint.root);
        }
      }
    }
  });

  it("makes from the tile cache exactly the route's answer, for every index and many sizes", async () => {
    const store = t.server.store;
    const latest = size;
    const sizes = [1, 2, 3, 100, 255, 256, 257, 258, size - 1, size];
    let compared = 0;
    for (const n of sizes) {
      for (let index = 0; index < n; index++) {
        const want = JSON.stringify(await inclusionProofByIndex(store, latest, index, n));
        // The route's function filled the cache for this proof: it must now be made from it.
        expect(store.cachedInclusionProofText(index, n, latest)).toBe(want);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(1500);
    // What the route refuses is left to it.
    expect(store.cachedInclusionProofText(0, 0, latest)).toBeUndefined();
    expect(store.cachedInclusionProofText(5, 5, latest)).toBeUndefined();
    expect(store.cachedInclusionProofText(0, latest + 1, latest)).toBeUndefined();
    expect(store.cachedInclusionProofText(latest, latest, latest)).toBeUndefined();
  });

  it("echoes a sane X-Request-Id, as the app does", async () => {
    const before = fast();
    const res = await get(canonical(3, size), { headers: { "x-request-id": "trace-42" } });
    await res.arrayBuffer();
    expect(fast()).toBe(before + 1);
    expect(res.headers.get("x-request-id")).toBe("trace-42");
  });

  it.each([
    ["an index at the size", () => canonical(5, 5), 400, "OUT_OF_RANGE"],
    ["an empty tree", () => canonical(0, 0), 400, "OUT_OF_RANGE"],
    ["a size beyond the latest checkpoint", (n: number) => canonical(0, n + 1), 400, "OUT_OF_RANGE"],
    ["an index beyond the latest checkpoint", (n: number) => canonical(n, n), 404, "NOT_FOUND"],
    ["a leading zero", (n: number) => `/v1/proof/inclusion?index=01&size=${n}`, 400, "BAD_QUERY"],
    ["a number past 2^53", () => "/v1/proof/inclusion?index=0&size=9007199254740993", 400, "BAD_QUERY"],
  ])("leaves %s to the app, which refuses it with its error code", async (_, path, status, code) => {
    const before = fast();
    const res = await get(path(size));
    const json = (await res.json()) as { error: { code: string } };
    expect(fast()).toBe(before);
    const app = await (await get(`${path(size)}&z=1`)).json();
    expect({ status: res.status, code: json.error.code }).toEqual({ status, code });
    expect(json).toEqual(app);
  });
});
