import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import { concat, equalBytes, fromBase64, fromHex, toBase64, toHex, utf8 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import {
  checkSignatures,
  compareKeys,
  type Envelope,
  eventSigningBytes,
  MAX_ENVELOPE_BYTES,
  parseEnvelope,
  parseEventTime,
  parseStoredEnvelope,
} from "../../core/event.js";
import {
  accountInvite,
  formatEventTime,
  grantIssue,
  keyAdd,
  orgCreate,
  sealEvent,
} from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { canonicalize } from "../../core/jcs.js";

const seed = (label: string) => sha256(utf8(`event-test:${label}`));
const pub = (label: string) => toBase64(ed25519().publicKey(seed(label)));
const T0 = 1_800_000_000;
const H = toBase64(new Uint8Array(32).fill(7));

function invite(): Envelope {
  return sealEvent(
    accountInvite({
      org: "acme",
      subject: "alice@acme.example",
      time: T0,
      actor: { role: "delegate", key: pub("bridge"), grant: "scim-bridge-1" },
      externalId: "2819c223",
      inviteSecret: new Uint8Array(32).fill(1),
    }),
    [seed("bridge")],
  );
}

// Tests mutate envelopes freely to break them; a loose type keeps that readable.
// biome-ignore lint/suspicious/noExplicitAny: deliberately untyped JSON for mutation
type Json = Record<string, any>;
const json = (v: unknown) => JSON.parse(JSON.stringify(v)) as Json;

function expectCode(f: () => unknown, code: string) {
  expect(f).toThrow(expect.objectContaining({ code }));
}

describe("key event envelopes", () => {
  it("a well-formed envelope parses from text, bytes or a value into the same canonical leaf", () => {
    const env = invite();
    const text = JSON.stringify(env, null, 2);
    const a = parseEnvelope(text);
    const b = parseEnvelope(utf8(text));
    const c = parseEnvelope(json(env));
    expect(equalBytes(a.leaf, b.leaf) && equalBytes(a.leaf, c.leaf)).toBe(true);
    expect(new TextDecoder().decode(a.leaf)).toBe(canonicalize(env));
    expect(equalBytes(a.leafHash, sha256(concat(new Uint8Array([0]), a.leaf)))).toBe(true);
    expect(a.envelope).toEqual(env);
    checkSignatures(a.envelope);
  });

  it("the returned envelope is a fresh copy, never the caller's object", () => {
    const raw = json(invite());
    const parsed = parseEnvelope(raw).envelope;
    expect(parsed).not.toBe(raw);
    expect(parsed.event).not.toBe(raw.event);
    expect(parsed.sigs[0]).not.toBe(raw.sigs[0]);
    raw.event.body.externalId = "changed";
    expect((parsed.event.body as { externalId: string }).externalId).toBe("2819c223");
  });

  it("signatures cover the canonical bytes of the event alone", () => {
    const env = invite();
    const s = env.sigs[0]!;
    expect(ed25519().verify(fromBase64(s.sig), eventSigningBytes(env.event), fromBase64(s.key))).toBe(true);
  });

  it("a signature that does not verify is SIG_INVALID, naming the key", () => {
    const env = invite();
    const forged = { ...env, event: { ...env.event, subject: "mallory@acme.example" } } as Envelope;
    try {
      checkSignatures(forged);
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: "SIG_INVALID", details: { key: pub("bridge") } });
    }
  });

  it("an envelope over 16 KiB is TOO_LARGE before it is parsed", () => {
    const big = `{"x":"${"a".repeat(MAX_ENVELOPE_BYTES)}"}`;
    expectCode(() => parseEnvelope(big), "TOO_LARGE");
    expectCode(() => parseEnvelope(utf8(big)), "TOO_LARGE");
    // Multi-byte characters count as UTF-8 bytes, not UTF-16 units.
    const wide = `{"x":"${"é".repeat(MAX_ENVELOPE_BYTES / 2)}"}`;
    expectCode(() => parseEnvelope(wide), "TOO_LARGE");
    // The largest envelope the format allows is well under the cap: an org of 16 admins, all
    // signing (16 signatures is also the most any envelope may carry).
    const admins = Array.from({ length: 16 }, (_, i) => pub(`k${i}`));
    const raw = json({
      event: orgCreate({
        org: "acme",
        time: T0,
        actor: { role: "admin", key: admins[0]! },
        name: "n".repeat(256),
        admins,
        threshold: 16,
      }),
      sigs: admins.map((key) => ({ key, sig: toBase64(new Uint8Array(64)) })),
    });
    parseEnvelope(raw); // under the cap
  });

  it("text that is not JSON or not UTF-8 is MALFORMED", () => {
    expectCode(() => parseEnvelope("{"), "MALFORMED");
    expectCode(() => parseEnvelope(new Uint8Array([0x7b, 0xff, 0x7d])), "MALFORMED");
    expectCode(() => parseEnvelope("\ufeff{}"), "MALFORMED");
    expectCode(() => parseEnvelope("null"), "MALFORMED");
    expectCode(() => parseEnvelope(42), "MALFORMED");
  });

  const malformed: [string, (e: Json) => void][] = [
    ["an extra envelope field", (e) => (e.extra = 1)],
    ["an extra event field", (e) => (e.event.extra = 1)],
    ["an extra actor field", (e) => (e.event.actor.extra = 1)],
    ["an extra body field", (e) => (e.event.body.note = "x")],
    ["an extra sig field", (e) => (e.sigs[0].extra = 1)],
    ["a missing body field", (e) => delete e.event.body.inviteKey],
    ["a missing time", (e) => delete e.event.time],
    ["v 2", (e) => (e.event.v = 2)],
    ["v as a string", (e) => (e.event.v = "1")],
    ["an unknown type", (e) => (e.event.type = "account.rename")],
    ["an id with a space", (e) => (e.event.subject = "alice smith")],
    ["an empty id", (e) => (e.event.org = "")],
    ["an id of 129 characters", (e) => (e.event.org = "a".repeat(129))],
    ["an id with a slash", (e) => (e.event.org = "a/b")],
    [
      "a non-canonical base64 key (trailing bits)",
      (e) => (e.event.actor.key = e.event.actor.key.replace(/.=$/, "B=")),
    ],
    ["an unpadded base64 key", (e) => (e.event.actor.key = e.event.actor.key.replace(/=$/, ""))],
    ["a url-safe base64 key", (e) => (e.event.actor.key = `-_${e.event.actor.key.slice(2)}`)],
    ["a 31-byte key", (e) => (e.event.actor.key = toBase64(new Uint8Array(31)))],
    ["a 33-byte invite key", (e) => (e.event.body.inviteKey = toBase64(new Uint8Array(33)))],
    ["a 63-byte signature", (e) => (e.sigs[0].sig = toBase64(new Uint8Array(63)))],
    ["a time with fractional seconds", (e) => (e.event.time = "2027-01-15T08:00:00.5Z")],
    ["a time with an offset", (e) => (e.event.time = "2027-01-15T08:00:00+00:00")],
    ["a lower-case t", (e) => (e.event.time = "2027-01-15t08:00:00Z")],
    ["February 30th", (e) => (e.event.time = "2027-02-30T08:00:00Z")],
    ["February 29th of a common year", (e) => (e.event.time = "2027-02-29T08:00:00Z")],
    ["a leap second", (e) => (e.event.time = "2027-06-30T23:59:60Z")],
    ["hour 24", (e) => (e.event.time = "2027-01-15T24:00:00Z")],
    ["a negative seq", (e) => (e.event.seq = -1)],
    ["a fractional seq", (e) => (e.event.seq = 0.5)],
    ["an unsafe seq", (e) => (e.event.seq = 2 ** 53)],
    [
      "seq 1 on a creating event",
      (e) => {
        e.event.seq = 1;
        e.event.prev = H;
      },
    ],
    ["prev at seq 0", (e) => (e.event.prev = H)],
    ["an unknown role", (e) => (e.event.actor.role = "owner")],
    ["a delegate without a grant", (e) => delete e.event.actor.grant],
    ["an admin with a grant", (e) => (e.event.actor.role = "admin")],
    ["no sigs", (e) => (e.sigs = [])],
    [
      "17 sigs",
      (e) => (e.sigs = Array.from({ length: 17 }, (_, i) => ({ key: pub(`k${i}`), sig: e.sigs[0].sig }))),
    ],
    ["two sigs by one key", (e) => e.sigs.push({ ...e.sigs[0] })],
    ["sigs as an object", (e) => (e.sigs = e.sigs[0])],
    ["a null body", (e) => (e.event.body = null)],
    ["an array body", (e) => (e.event.body = [])],
    ["an empty externalId", (e) => (e.event.body.externalId = "")],
  ];
  for (const [name, mutate] of malformed) {
    it(`an envelope with ${name} is MALFORMED`, () => {
      const raw = json(invite());
      mutate(raw);
      expectCode(() => parseEnvelope(raw), "MALFORMED");
      expectCode(() => parseEnvelope(JSON.stringify(raw)), "MALFORMED");
    });
  }

  it("a __proto__ member in submitted text is an unknown field, not a prototype", () => {
    const text = JSON.stringify(invite()).replace('"body":{', '"body":{"__proto__":{"x":1},');
    expectCode(() => parseEnvelope(text), "MALFORMED");
  });

  it("a non-plain object is refused even when its fields look right", () => {
    const raw = json(invite());
    const tricky = Object.create({ sigs: raw.sigs });
    tricky.event = raw.event;
    expectCode(() => parseEnvelope(tricky), "MALFORMED");
  });

  it("an org event's subject is its org, and seq 0 is only for creating events", () => {
    const create = json(
      sealEvent(
        orgCreate({
          org: "acme",
          time: T0,
          actor: { role: "admin", key: pub("a") },
          name: "Acme",
          admins: [pub("a")],
          threshold: 1,
        }),
        [seed("a")],
      ),
    );
    parseEnvelope(create);
    expectCode(() => parseEnvelope({ ...create, event: { ...create.event, subject: "other" } }), "MALFORMED");
    const add = json(
      sealEvent(
        keyAdd({
          org: "acme",
          subject: "alice",
          seq: 1,
          prev: H,
          time: T0,
          actor: { role: "self", key: pub("d") },
          key: { id: "d1", alg: "ed25519", use: "sign", pub: pub("d") },
        }),
        [seed("d")],
      ),
    );
    parseEnvelope(add);
    const atZero = json(add);
    atZero.event.seq = 0;
    delete atZero.event.prev;
    expectCode(() => parseEnvelope(atZero), "MALFORMED");
  });

  it("bodies are checked per type", () => {
    const base = { org: "acme", time: T0, actor: { role: "admin" as const, key: pub("a") } };
    const build = (f: () => unknown) => expectCode(f, "MALFORMED");
    build(() => orgCreate({ ...base, name: "Acme", admins: [pub("a")], threshold: 2 }));
    build(() => orgCreate({ ...base, name: "Acme", admins: [pub("a")], threshold: 0 }));
    build(() => orgCreate({ ...base, name: "Acme", admins: [pub("a"), pub("a")], threshold: 1 }));
    build(() => orgCreate({ ...base, name: "Acme", admins: [], threshold: 1 }));
    build(() => orgCreate({ ...base, name: "", admins: [pub("a")], threshold: 1 }));
    build(() =>
      orgCreate({
        ...base,
        name: "Acme",
        admins: Array.from({ length: 33 }, (_, i) => pub(`x${i}`)),
        threshold: 1,
      }),
    );
    const grant = {
      ...base,
      seq: 1,
      prev: H,
      id: "g1",
      delegate: pub("bridge"),
      ops: ["account.invite" as const],
      accounts: ["*"],
      notBefore: T0,
      notAfter: T0 + 3600,
      note: "",
    };
    grantIssue(grant);
    // Non-delegable ops parse; the policy refuses them with OP_NOT_DELEGABLE.
    grantIssue({ ...grant, ops: ["key.add"] });
    build(() => grantIssue({ ...grant, ops: [] }));
    build(() => grantIssue({ ...grant, ops: ["account.invite", "account.invite"] }));
    build(() => grantIssue({ ...grant, ops: ["account.rename" as "key.add"] }));
    build(() => grantIssue({ ...grant, accounts: [] }));
    build(() => grantIssue({ ...grant, accounts: ["*", "a"] }));
    build(() => grantIssue({ ...grant, accounts: ["a b"] }));
    build(() => grantIssue({ ...grant, notAfter: T0 }));
    build(() => grantIssue({ ...grant, note: "n".repeat(1025) }));
    grantIssue({ ...grant, note: "n".repeat(1024), accounts: ["eng.", "ops."], attestation: "scim:v2" });
    const key = {
      ...base,
      actor: { role: "self" as const, key: pub("d") },
      subject: "alice",
      seq: 1,
      prev: H,
    };
    build(() => keyAdd({ ...key, key: { id: "d1", alg: "ed25519", use: "encrypt", pub: pub("d") } }));
    build(() => keyAdd({ ...key, key: { id: "d1", alg: "x25519", use: "sign", pub: pub("d") } }));
    build(() => keyAdd({ ...key, key: { id: "d1", alg: "rsa" as "x25519", use: "encrypt", pub: pub("d") } }));
    keyAdd({ ...key, key: { id: "e1", alg: "x25519", use: "encrypt", pub: pub("e") } });
  });

  it("event times are RFC 3339 UTC whole seconds on real dates", () => {
    expect(formatEventTime(0)).toBe("1970-01-01T00:00:00Z");
    expect(formatEventTime(951782400)).toBe("2000-02-29T00:00:00Z");
    for (const t of [0, 951782400, T0, 4102444799, 253402300799])
      expect(parseEventTime(formatEventTime(t))).toBe(t);
    expect(parseEventTime("2000-02-29T00:00:00Z")).toBe(951782400);
    expect(parseEventTime("1900-02-29T00:00:00Z")).toBeUndefined();
    expect(parseEventTime("2024-04-31T00:00:00Z")).toBeUndefined();
  });

  it("an invite key is HKDF-SHA256(secret, info 'trustlog invite v1') as an Ed25519 seed", () => {
    // Values computed independently (Python hmac for HKDF, the cryptography package for Ed25519).
    const k = inviteKeyFromSecret(new Uint8Array(32).map((_, i) => i));
    expect(toHex(k.seed)).toBe("bca156dbab45761980539e00fb9349296fb76ae5349208f9a7292eb132d1fde3");
    expect(toBase64(k.publicKey)).toBe("VNnBhacodCD3rPbh+oHeY8nZGyHfA+0kaBk6rsX3jpM=");
    expectCode(() => inviteKeyFromSecret(new Uint8Array(16)), "MALFORMED");
  });

  it("signatures are stored in the order of their key bytes, whatever order they came in", () => {
    const ev = orgCreate({
      org: "acme",
      time: T0,
      actor: { role: "admin", key: pub("x") },
      name: "Acme",
      admins: ["x", "y", "z", "w"].map(pub),
      threshold: 4,
    });
    const sealed = sealEvent(ev, [seed("x"), seed("y"), seed("z"), seed("w")]);
    const reversed = { ...sealed, sigs: [...sealed.sigs].reverse() };
    const a = parseEnvelope(json(sealed));
    const b = parseEnvelope(json(reversed));
    expect(equalBytes(a.leaf, b.leaf)).toBe(true);
    const keys = a.envelope.sigs.map((x) => fromBase64(x.key));
    for (let i = 1; i < keys.length; i++)
      expect(compareKeys(a.envelope.sigs[i - 1]!.key, a.envelope.sigs[i]!.key)).toBeLessThan(0);
    expect(keys[0]![0]! <= keys[keys.length - 1]![0]!).toBe(true);
    // A stored leaf with the signatures in another order is not canonical: verifiers refuse it.
    const unsorted = utf8(canonicalize(reversed));
    expect(() => parseEnvelope(unsorted)).not.toThrow();
    expectCode(() => parseStoredEnvelope(unsorted), "MALFORMED");
    expect(() => parseStoredEnvelope(a.leaf)).not.toThrow();
  });

  it("sealing signs once per distinct key, in a deterministic order", () => {
    const ev = orgCreate({
      org: "acme",
      time: T0,
      actor: { role: "admin", key: pub("x") },
      name: "Acme",
      admins: [pub("x"), pub("y")],
      threshold: 2,
    });
    const a = sealEvent(ev, [seed("x"), seed("y"), seed("x")]);
    const b = sealEvent(ev, [seed("y"), seed("x")]);
    expect(a).toEqual(b);
    expect(a.sigs).toHaveLength(2);
    checkSignatures(a);
  });
});

// The leaves as docs/events.md §7 prints them (signatures checked with Python's cryptography).
const DOC_INVITE_LEAF =
  '{"event":{"actor":{"key":"SiWVymZ9kUoEkJqidQcQq+9PuT22qSPbV3n0zaAaZFc=","role":"admin"},"body":{"externalId":"2819c223","inviteKey":"VNnBhacodCD3rPbh+oHeY8nZGyHfA+0kaBk6rsX3jpM="},"org":"acme","seq":0,"subject":"alice@acme.example","time":"2026-11-22T10:05:00Z","type":"account.invite","v":1},"sigs":[{"key":"SiWVymZ9kUoEkJqidQcQq+9PuT22qSPbV3n0zaAaZFc=","sig":"weT1KZC5ax8Tsr+TZ70OQ2psCHEnQni7oYuEnsXIDlKfOo872SdU0yeZEtCpJvLSaTKwbyo21uytheJpJQPxDg=="}]}';
const DOC_KEY_ADD_LEAF =
  '{"event":{"actor":{"key":"PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=","role":"self"},"body":{"key":{"alg":"ed25519","id":"laptop","pub":"PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=","use":"sign"}},"org":"acme","prev":"PAsRS6fun3y6N/B61A37jMNIre8WZ1Vhx1F+ENXNCZQ=","seq":1,"subject":"alice@acme.example","time":"2026-11-22T10:07:00Z","type":"key.add","v":1},"sigs":[{"key":"PUAXw+hDiVqStwqnTRt+vJyYLM8uxJaMwM1V8Sr0Zgw=","sig":"tG2MJBke/I1/rNpECAWzezMppeoogrKqYiajMUcjaiffr7+Gtwu11/MK6d+UZE2fAzYpQzt7NNVUyg91JyfOAQ=="},{"key":"VNnBhacodCD3rPbh+oHeY8nZGyHfA+0kaBk6rsX3jpM=","sig":"z/AZXglGeQokonWwTTTC9jDD9mWPymWnQeYVjnApIOP17RZJpwtZqAIj4tIg58ZJcyLn03Y3h4nq3RIui4NgCw=="}]}';

describe("the worked example of docs/events.md", () => {
  it("gives the documented signature, leaf and leaf hashes", () => {
    const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b366326703b7f3d5fdec5f1");
    const pub = toBase64(ed25519().publicKey(seed));
    expect(pub).toBe("SiWVymZ9kUoEkJqidQcQq+9PuT22qSPbV3n0zaAaZFc=");
    const actor = { role: "admin" as const, key: pub };
    const create = sealEvent(
      orgCreate({
        org: "acme",
        time: "2026-11-22T10:00:00Z",
        actor,
        name: "Acme Inc",
        admins: [pub],
        threshold: 1,
      }),
      [seed],
    );
    expect(eventSigningBytes(create.event)).toHaveLength(272);
    expect(create.sigs[0]!.sig).toBe(
      "mrOjSTagULq0MIwQ2pfB3GTmiPq+8V9ASwiCVIBazxzRAHpy3Tt5iuVEZtaUPo/A+492eYx+pGoSuGcP06oMBA==",
    );
    const p = parseEnvelope(create);
    expect(toHex(p.leafHash)).toBe("7d964da4912de1d2aa5ad58a97433ea1a34d862cfafa30a6ae82f24372a84535");
    const secret = new Uint8Array(32).map((_, i) => i);
    const invite = sealEvent(
      accountInvite({
        org: "acme",
        subject: "alice@acme.example",
        time: "2026-11-22T10:05:00Z",
        actor,
        externalId: "2819c223",
        inviteSecret: secret,
      }),
      [seed],
    );
    expect(invite.event.body).toEqual({
      externalId: "2819c223",
      inviteKey: "VNnBhacodCD3rPbh+oHeY8nZGyHfA+0kaBk6rsX3jpM=",
    });
    const pi = parseEnvelope(invite);
    expect(new TextDecoder().decode(pi.leaf)).toBe(DOC_INVITE_LEAF);
    expect(toBase64(pi.leafHash)).toBe("PAsRS6fun3y6N/B61A37jMNIre8WZ1Vhx1F+ENXNCZQ=");
    // Alice's first key (RFC 8032 test 2's secret key), co-signed by the invite key.
    const alice = fromHex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
    const apub = toBase64(ed25519().publicKey(alice));
    const add = sealEvent(
      keyAdd({
        org: "acme",
        subject: "alice@acme.example",
        seq: 1,
        prev: pi.leafHash,
        time: "2026-11-22T10:07:00Z",
        actor: { role: "self", key: apub },
        key: { id: "laptop", alg: "ed25519", use: "sign", pub: apub },
      }),
      [alice, inviteKeyFromSecret(secret).seed],
    );
    const pa = parseEnvelope(add);
    expect(new TextDecoder().decode(pa.leaf)).toBe(DOC_KEY_ADD_LEAF);
    expect(toBase64(pa.leafHash)).toBe("KlLTghZhWiKgAYiqnxCF+E2KEeU7P/ssEh63A6jZzjo=");
  });
});
