// POST /v1/events over the real app, on PostgreSQL and on PGlite: what is accepted comes back
// with a proof that checks against the signed checkpoint (checked with core alone); what is
// refused gets its stable code and status and leaves the log exactly as it was.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../core/bytes.js";
import { parseCheckpoint } from "../../core/checkpoint.js";
import type { Envelope } from "../../core/event.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
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
import { LogLayout } from "./log-layout.js";

describe.each(BACKENDS)("POST /v1/events on %s", (backend) => {
  let storage: TestStorage;
  let t: TestServer;
  const h = new History();
  const root = testKey("root");
  const bridge = testKey("bridge");
  const alice = testKey("alice-laptop");
  /** The log's layout of the events `h` holds: each accepted request was one batch. */
  const layout = new LogLayout();

  beforeAll(async () => {
    storage = await createStorage(backend);
    t = await startTestServer(storage, { clock: () => h.now });
  });
  afterAll(async () => {
    await t?.stop();
    await storage?.dispose();
  });

  /**
   * Checks a 200 answer with core alone, then records the accepted events in `h`. The request
   * was one batch: its events take the next indices, its index leaf the one after them.
   */
  function expectAccepted(json: Json, envelopes: Envelope[]) {
    const verifier = parseVerifierKey(t.server.key.vkey);
    const note = openNote(json.checkpoint, [verifier]);
    const cp = parseCheckpoint(note.body);
    expect(json.results).toHaveLength(envelopes.length);
    const indices = layout.batch(envelopes.length);
    envelopes.forEach((env, i) => {
      const r = json.results[i];
      expect(r.error).toBeUndefined();
      const entry = h.append(env);
      expect(r.leafHash).toBe(toBase64(entry.leafHash));
      expect(r.index).toBe(indices[i]);
      expect(r.index).toBe(layout.index(entry.index));
      checkInclusion(entry.leafHash, r.index, cp.size, r.inclusion.map(fromBase64), cp.root);
    });
    expect(cp.size).toBe(layout.size);
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
    // The event and its batch's index leaf.
    expect(cp.size).toBe(2);
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
    // Three batches (1, 1 and 3 events), each closed by its index leaf.
    expect(cp.size).toBe(1 + 1 + 1 + 1 + 3 + 1);
  });

  it("answers an identical resubmission with the existing entry", async () => {
    const first = h.entries[2]!;
    const { status, json } = await t.post(first.envelope);
    expect(status).toBe(200);
    expect(json.results[0]).toMatchObject({
      index: layout.index(2),
      leafHash: toBase64(first.leafHash),
      duplicate: true,
    });
    expect(await treeSize()).toBe(layout.size);
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
    // The batch appended the good event alone, then its index leaf.
    expect(json.results[0].index).toBe(layout.batch(1)[0]);
    checkInclusion(
      entry.leafHash,
      json.results[0].index,
      cp.size,
      json.results[0].inclusion.map(fromBase64),
      cp.root,
    );
    expect(cp.size).toBe(layout.size);
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
      // The head as the log has it: its index is the log's, not the History's.
      expect(r.json.error.head).toMatchObject(layout.head(head));
    });
  });

  it("of two concurrent writers to one subject, one wins and the other gets 409 with the new head", async () => {
    const a = h.keyAdd("acme", "bob", testKey("bob-phone"));
    const b = h.keyAdd("acme", "bob", testKey("bob-laptop"));
    const [ra, rb] = await Promise.all([t.post(a), t.post(b)]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const [win, lose, winEnv] = ra.status === 200 ? [ra, rb, a] : [rb, ra, b];
    const entry = h.append(winEnv);
    // Whether or not both went in one batch, the winner was its batch's only new event.
    expect(win.json.results[0].index).toBe(layout.batch(1)[0]);
    expect(lose.json.error.code).toBe("CHAIN_CONFLICT");
    expect(lose.json.error.head).toEqual({
      seq: 1,
      leafHash: toBase64(entry.leafHash),
      index: win.json.results[0].index,
    });
  });

  it("answers a resubmission under another signature set with the existing entry, appending nothing", async () => {
    const b1 = testKey("beta-1");
    const b2 = testKey("beta-2");
    const b3 = testKey("beta-3");
    // Two admins and a threshold of 1: the second admin's signature is welcome, not needed.
    const create = h.orgCreate("beta", { admins: [b1, b2], threshold: 1 });
    const r1 = await t.post(create);
    expect(r1.status).toBe(200);
    expectAccepted(r1.json, [create]);
    // Signed by the actor, the co-signing admin and the new admin (proof of possession).
    const added = h.adminAdd("beta", b3, admin(b1, b2));
    expect(added.sigs).toHaveLength(3);
    const r2 = await t.post(added);
    expect(r2.status).toBe(200);
    expectAccepted(r2.json, [added]);
    const stored = h.entries[h.entries.length - 1]!;
    const at = layout.index(stored.index);
    const size = layout.size;

    // The same signatures in another order, and in another order without the co-signature
    // above the threshold; alone, and in one batch with the original.
    const reordered = { event: added.event, sigs: [...added.sigs].reverse() };
    const fewer = { event: added.event, sigs: [...added.sigs].reverse().filter((x) => x.key !== b2.pub) };
    expect(fewer.sigs).toHaveLength(2);
    const verifier = parseVerifierKey(t.server.key.vkey);
    for (const body of [reordered, fewer, batch([fewer, added, reordered])]) {
      const { status, json } = await t.post(body);
      expect(status).toBe(200);
      const cp = parseCheckpoint(openNote(json.checkpoint, [verifier]).body);
      expect(cp.size).toBe(size);
      expect(json.results).toHaveLength("events" in body ? 3 : 1);
      for (const r of json.results) {
        // The existing entry: its index and the stored leaf's hash, whatever was resubmitted.
        expect(r).toMatchObject({ index: at, leafHash: toBase64(stored.leafHash), duplicate: true });
        checkInclusion(stored.leafHash, at, cp.size, r.inclusion.map(fromBase64), cp.root);
      }
    }
    expect(await treeSize()).toBe(size);
  });
});
