// POST /v1/events over the real app, on PostgreSQL and on PGlite: what is accepted comes back
// with a proof that checks against the signed checkpoint (checked with core alone); what is
// refused gets its stable code and status and leaves the log exactly as it was.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import type { Envelope } from "../../core/event.js";
import { openNote, parseVerifierKey } from "../../core/note.js";
import { checkInclusion } from "../../core/proof.js";
import { admin, DAY, delegate, History, testKey } from "../helpers/events.js";
import {
  BACKENDS,
  batch,
  createStorage,
  type Json,
  startTestServer,
  type TestServer,
  type TestStorage,
} from "./http-harness.js";

describe.each(BACKENDS)("POST /v1/events on %s", (backend) => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const root = testKey("root");
  const bridge = testKey("bridge");
  const alice = testKey("alice-laptop");

  beforeAll(async () => {
    storage = await createStorage(backend);
    t = await startTestServer(storage, { clock: () => h.now });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  /** Checks a 200 answer with core alone, then records the accepted events in `h`. */
  function expectAccepted(json: Json, envelopes: Envelope[]) {
    const verifier = parseVerifierKey(t.server.key.vkey);
    const note = openNote(json.checkpoint, [verifier]);
    const cp = parseCheckpoint(note.body);
    expect(json.results).toHaveLength(envelopes.length);
    envelopes.forEach((env, i) => {
      const r = json.results[i];
      expect(r.error).toBeUndefined();
      const entry = h.append(env);
      expect(r.leafHash).toBe(toBase64(entry.leafHash));
      expect(r.index).toBe(entry.index);
      checkInclusion(entry.leafHash, r.index, cp.size, r.inclusion.map(fromBase64), cp.root);
    });
    return cp;
  }

  async function treeSize(): Promise<number> {
    const res = await t.request("/checkpoint");
    return parseCheckpoint(openNote(await res.text(), [parseVerifierKey(t.server.key.vkey)]).body).size;
  }

  it("accepts one envelope: one result, proven against the signed checkpoint", async () => {
    const env = h.orgCreate("acme", { admins: [root] });
    const { status, json } = await t.post(env);
    expect(status).toBe(200);
    const cp = expectAccepted(json, [env]);
    expect(cp.size).toBe(1);
    expect(cp.origin).toBe("test.trustlog.example/log");
  });

  it("accepts a batch and answers every item against one checkpoint", async () => {
    const grant = h.grantIssue(
      "acme",
      { id: "scim", delegate: bridge, ops: ["account.invite", "account.suspend"] },
      admin(root),
    );
    const { status, json } = await t.post(batch([grant]));
    expect(status).toBe(200);
    expectAccepted(json, [grant]);
    const invites = ["alice", "bob", "carol"].map((a) => h.invite("acme", a, delegate(bridge, "scim")));
    const r = await t.post(batch(invites));
    expect(r.status).toBe(200);
    const cp = expectAccepted(r.json, invites);
    expect(cp.size).toBe(5);
  });

  it("answers an identical resubmission with the existing entry", async () => {
    const first = h.entries[2]!;
    const { status, json } = await t.post(first.envelope);
    expect(status).toBe(200);
    expect(json.results[0]).toMatchObject({ index: 2, leafHash: toBase64(first.leafHash), duplicate: true });
    expect(await treeSize()).toBe(5);
  });

  it("returns per-item results for a batch mixing good and bad events", async () => {
    const good = h.keyAdd("acme", "alice", alice);
    const forged = structuredClone(h.keyAdd("acme", "bob", testKey("bob-phone")));
    forged.sigs[0]!.sig = toBase64(new Uint8Array(64).fill(7));
    const hijack = h.keyAdd("acme", "carol", testKey("evil"), { by: delegate(bridge, "scim") });
    const { status, json } = await t.post(batch([good, forged, hijack, { nonsense: true } as never]));
    expect(status).toBe(200);
    expect(json.results[1].error.code).toBe("SIG_INVALID");
    expect(json.results[2].error.code).toBe("DELEGATE_CANNOT_ADD_KEY");
    expect(json.results[3].error.code).toBe("MALFORMED");
    const cp = parseCheckpoint(openNote(json.checkpoint, [parseVerifierKey(t.server.key.vkey)]).body);
    const entry = h.append(good);
    checkInclusion(
      entry.leafHash,
      json.results[0].index,
      cp.size,
      json.results[0].inclusion.map(fromBase64),
      cp.root,
    );
    expect(cp.size).toBe(6);
  });

  describe("refusals change nothing and carry a stable code", () => {
    const cases: [string, () => unknown, number, string][] = [
      ["invalid JSON", () => "{not json", 400, "MALFORMED"],
      ["a JSON array", () => "[]", 400, "MALFORMED"],
      ["a number", () => "42", 400, "MALFORMED"],
      ["an envelope with wrong types", () => ({ event: { v: "1" }, sigs: "x" }), 400, "MALFORMED"],
      ["an empty batch", () => ({ events: [] }), 400, "MALFORMED"],
      ["a batch that is not an array", () => ({ events: {} }), 400, "MALFORMED"],
      ["a batch with extra fields", () => ({ events: [], more: 1 }), 400, "MALFORMED"],
      [
        "a bad signature",
        () => {
          const e = structuredClone(h.keyAdd("acme", "bob", testKey("bob-phone")));
          e.sigs[0]!.sig = toBase64(new Uint8Array(64));
          return e;
        },
        403,
        "SIG_INVALID",
      ],
      [
        "a policy refusal",
        () => h.keyAdd("acme", "bob", testKey("evil"), { by: delegate(bridge, "scim") }),
        403,
        "DELEGATE_CANNOT_ADD_KEY",
      ],
      [
        "an event time beyond the clock skew",
        () => h.invite("acme", "dave", delegate(bridge, "scim"), { time: h.now + 40 * DAY }),
        403,
        "SKEW",
      ],
      ["an unknown org", () => h.invite("nobody", "dave", admin(root)), 403, "ORG_UNKNOWN"],
      [
        "an org that exists",
        () => h.orgCreate("acme", { admins: [root], name: "Acme again" }),
        409,
        "ORG_EXISTS",
      ],
      [
        "an envelope over 16 KiB",
        () => JSON.stringify(h.orgCreate("big", { admins: [root] })) + " ".repeat(17_000),
        413,
        "TOO_LARGE",
      ],
      [
        "a batch over 1,000 events",
        () => ({ events: Array.from({ length: 1001 }, () => ({})) }),
        413,
        "TOO_LARGE",
      ],
    ];
    it.each(cases)("%s", async (_name, body, status, code) => {
      const before = await treeSize();
      const r = await t.post(body());
      expect(r.status).toBe(status);
      expect(r.json.error.code).toBe(code);
      expect(typeof r.json.error.message).toBe("string");
      expect(await treeSize()).toBe(before);
    });

    it("a body over the byte limit is 413 before it is read", async () => {
      const small = await createStorage("pglite");
      const limited = await startTestServer(small, {
        config: { bodyLimitBytes: 2048, dataDir: "memory://", keyFile: undefined },
      });
      try {
        const r = await limited.post(JSON.stringify({ events: ["x".repeat(4096)] }));
        expect(r.status).toBe(413);
        expect(r.json.error.code).toBe("TOO_LARGE");
      } finally {
        await limited.stop();
        await small.dispose();
      }
    });

    it("a chain conflict is 409 with the subject's head", async () => {
      const head = h.head("acme", "alice")!;
      const stale = h.keyAdd("acme", "alice", testKey("alice-phone"), {
        by: { self: alice },
        seq: head.seq,
        prev: h.head("acme", "alice")!.leafHash,
      });
      const r = await t.post(stale);
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe("CHAIN_CONFLICT");
      expect(r.json.error.head).toMatchObject({ seq: head.seq, leafHash: head.leafHash, index: head.index });
    });
  });

  it("of two concurrent writers to one subject, one wins and the other gets 409 with the new head", async () => {
    const a = h.keyAdd("acme", "bob", testKey("bob-phone"));
    const b = h.keyAdd("acme", "bob", testKey("bob-laptop"));
    const [ra, rb] = await Promise.all([t.post(a), t.post(b)]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const [win, lose, winEnv] = ra.status === 200 ? [ra, rb, a] : [rb, ra, b];
    const entry = h.append(winEnv);
    expect(lose.json.error.code).toBe("CHAIN_CONFLICT");
    expect(lose.json.error.head).toEqual({
      seq: 1,
      leafHash: toBase64(entry.leafHash),
      index: win.json.results[0].index,
    });
  });
});
