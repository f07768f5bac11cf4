// The read fast path (server/immutable-responses.ts): over a real socket, a full tile or entry
// bundle answered from memory is the app's own answer, byte for byte and header for header; a
// partial tile, an error or a HEAD is never kept and still goes through the app. And what else
// issue 13 changed on the read path: CORS headers set on the answer (server/app.ts), and proofs
// whose right-edge hashes are kept (LogStore.rangeHashes) staying right as the tree grows.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkConsistency, checkInclusion } from "../../core/proof.js";
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
const IMMUTABLE = "public, max-age=31536000, immutable";

describe("the read fast path", () => {
  let storage: TestStorage;
  let t: TestServer;
  let size: number;
  const h = new History();
  const root = testKey("root");

  const get = (path: string, init?: RequestInit) => fetch(`${t.server.url}${path}`, init);
  const bytes = async (res: Response) => Buffer.from(await res.arrayBuffer());
  const kept = () => t.server.immutable.size;

  beforeAll(async () => {
    storage = await createStorage("postgres");
    t = await startTestServer(storage, { clock: () => h.now });
    const create = h.orgCreate("acme", { admins: [root] });
    expect((await t.post(create)).status).toBe(200);
    h.append(create);
    const invites = Array.from({ length: INVITES }, (_, i) => h.invite("acme", `user${i}`, admin(root)));
    const r = await t.post(batch(invites));
    expect(r.status).toBe(200);
    size = (await t.getJson("/readyz")).json.treeSize;
    expect(size).toBeGreaterThan(256);
    expect(size).toBeLessThan(512);
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  it.each(["/tile/0/000", "/tile/entries/000"])(
    "answers %s from memory once the app served it, identically",
    async (path) => {
      const before = kept();
      const first = await get(path);
      expect(first.status).toBe(200);
      expect(first.headers.get("cache-control")).toBe(IMMUTABLE);
      const firstBody = await bytes(first);
      expect(kept()).toBe(before + 1);

      const second = await get(path);
      expect(second.status).toBe(200);
      expect(kept()).toBe(before + 1);
      expect((await bytes(second)).equals(firstBody)).toBe(true);
      expect(stableHeaders(second)).toEqual(stableHeaders(first));
      expect(second.headers.get("content-length")).toBe(String(firstBody.length));
      expect(second.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
      expect(second.headers.get("x-request-id")).not.toBe(first.headers.get("x-request-id"));
      // The app without a socket (no fast path) answers the same bytes.
      expect((await bytes(await t.request(path))).equals(firstBody)).toBe(true);
    },
  );

  it("echoes a caller's sane request id, as the app does, and replaces an insane one", async () => {
    await get("/tile/0/000");
    const echoed = await get("/tile/0/000", { headers: { "x-request-id": "trace-42" } });
    expect(echoed.headers.get("x-request-id")).toBe("trace-42");
    const replaced = await get("/tile/0/000", { headers: { "x-request-id": "a b" } });
    expect(replaced.headers.get("x-request-id")).not.toBe("a b");
  });

  it("never keeps a partial tile: it is not immutable", async () => {
    const before = kept();
    const width = size % 256;
    for (const path of [`/tile/0/001.p/${width}`, `/tile/entries/001.p/${width}`, "/tile/1/000.p/1"]) {
      for (let i = 0; i < 2; i++) {
        const res = await get(path);
        expect(res.status).toBe(200);
        expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
      }
    }
    expect(kept()).toBe(before);
  });

  it.each([
    ["/tile/0/001", 404, "NOT_FOUND"],
    ["/tile/1/000", 404, "NOT_FOUND"],
    ["/tile/entries/001", 404, "NOT_FOUND"],
    ["/tile/0/1", 400, "BAD_TILE_PATH"],
    ["/tile/0/000.p/256", 400, "BAD_TILE_PATH"],
    ["/tile/nope", 400, "BAD_TILE_PATH"],
    ["/tile/0/000?x=1", 200, undefined],
  ])("GET %s → %i %s, as from the app, and is not kept", async (path, status, code) => {
    const before = kept();
    for (let i = 0; i < 2; i++) {
      const res = await get(path);
      expect(res.status).toBe(status);
      if (code) expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      const app = await t.request(path);
      expect(app.status).toBe(status);
    }
    expect(kept()).toBe(before);
  });

  it("leaves HEAD and other methods of a kept tile to the app", async () => {
    await get("/tile/0/000");
    const head = await get("/tile/0/000", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("cache-control")).toBe(IMMUTABLE);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const post = await get("/tile/0/000", { method: "POST" });
    expect(post.status).toBe(404);
  });

  it("counts what it serves in the HTTP metrics", async () => {
    const count = async () => {
      const text = await (await get("/metrics")).text();
      const line = text
        .split("\n")
        .find(
          (l) =>
            l.startsWith("trustlog_http_requests_total{") &&
            l.includes('route="/tile/*"') &&
            l.includes('status="200"'),
        );
      return Number(line?.split(" ").pop() ?? 0);
    };
    await get("/tile/0/000");
    const before = await count();
    await get("/tile/0/000");
    await get("/tile/0/000");
    expect(await count()).toBe(before + 2);
  });

  it("answers a CORS preflight, and puts the CORS and security headers on answers and errors", async () => {
    const pre = await get("/v1/events", {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET,HEAD,POST");
    expect(pre.headers.get("access-control-allow-headers")).toBe("Content-Type,Authorization");
    for (const [path, status] of [
      ["/v1/log", 200],
      ["/v1/proof/inclusion?index=1", 200],
      ["/v1/proof/inclusion?index=abc", 400],
      ["/nope", 404],
      ["/tile/0/000", 200],
    ] as const) {
      const res = await get(path, { headers: { origin: "https://app.example" } });
      expect(res.status).toBe(status);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-expose-headers")).toBe(
        "Retry-After,WWW-Authenticate,X-Request-Id",
      );
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-request-id")).toBeTruthy();
      if (path.startsWith("/v1/")) expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    }
  });

  it("proves inclusion and consistency at every size as the tree grows", async () => {
    const vkey = parseVerifierKey(t.server.key.vkey);
    const checkpoint = async () =>
      parseCheckpoint(openNote(await (await get("/checkpoint")).text(), [vkey]).body);
    const proveAll = async (cp: { size: number; root: Uint8Array }) => {
      for (let index = 0; index < cp.size; index += 7) {
        const res = await get(`/v1/proof/inclusion?index=${index}&size=${cp.size}`);
        expect(res.status).toBe(200);
        const json = (await res.json()) as { leafHash: string; hashes: string[] };
        checkInclusion(fromBase64(json.leafHash), index, cp.size, json.hashes.map(fromBase64), cp.root);
      }
    };
    const before = await checkpoint();
    await proveAll(before);
    const more = Array.from({ length: 37 }, (_, i) => h.invite("acme", `later${i}`, admin(root)));
    expect((await t.post(batch(more))).status).toBe(200);
    for (const e of more) h.append(e);
    const after = await checkpoint();
    expect(after.size).toBeGreaterThan(before.size);
    await proveAll(after);
    await proveAll(before);
    const res = await get(`/v1/proof/consistency?from=${before.size}&to=${after.size}`);
    const json = (await res.json()) as { hashes: string[] };
    checkConsistency(before.size, after.size, before.root, after.root, json.hashes.map(fromBase64));
  });
});
