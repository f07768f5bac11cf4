import { createPublicKey, verify as opensslVerify } from "node:crypto";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concat, fromHex, toHex, utf8 } from "../../core/bytes.js";
import { type Ed25519, ed25519, isWeakPublicKey, nobleEd25519 } from "../../core/ed25519.js";
import { nativeEd25519 } from "../../node/ed25519-native.js";

const BACKENDS: Ed25519[] = [nobleEd25519, nativeEd25519];
const L = ed.CURVE.n;
const P = ed.CURVE.p;

// RFC 8032 §7.1 tests 1, 2, 3 and SHA(abc).
const RFC8032 = [
  {
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    pub: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    msg: "",
    sig: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    pub: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    msg: "72",
    sig: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    pub: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    msg: "af82",
    sig: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
  {
    seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
    pub: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
    msg: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    sig: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
  },
];

// What OpenSSL (node:crypto, with none of trustlog's extra checks) says, for comparison.
function rawOpenssl(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.concat([Buffer.from("302a300506032b6570032100", "hex"), pub]),
      format: "der",
      type: "spki",
    });
    return opensslVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}

function verdicts(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean[] {
  return BACKENDS.map((b) => b.verify(sig, msg, pub));
}

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 255n);
  return out;
}

function leInt(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
}

function challenge(r: Uint8Array, a: Uint8Array, m: Uint8Array): bigint {
  return leInt(sha512(concat(r, a, m))) % L;
}

// noble refuses to encode the identity.
const encode = (p: ed.Point) => (p.is0() ? le(1n) : p.toBytes());

// A point of order 8 (from the well-known list); its multiples are the 8 small-order points.
const T8 = ed.Point.fromHex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
const SMALL_ORDER_POINTS = Array.from({ length: 8 }, (_, i) =>
  i === 0 ? ed.Point.ZERO : T8.multiply(BigInt(i), false),
);

const keyA = ed.utils.getExtendedPublicKey(fromHex(RFC8032[0]!.seed));

describe("Ed25519 back ends", () => {
  it('under Node, is the native one with nothing installed (the "#ed25519" import\'s node condition)', () => {
    expect(ed25519()).toBe(nativeEd25519);
  });

  it("reproduce the RFC 8032 §7.1 vectors", () => {
    for (const v of RFC8032) {
      for (const b of BACKENDS) {
        expect(toHex(b.publicKey(fromHex(v.seed))), b.name).toBe(v.pub);
        expect(toHex(b.sign(fromHex(v.msg), fromHex(v.seed))), b.name).toBe(v.sig);
        expect(b.verify(fromHex(v.sig), fromHex(v.msg), fromHex(v.pub)), b.name).toBe(true);
      }
    }
  });

  it("derive a public key again unchanged after a caller wrote into the last one (the native cache)", () => {
    const seed = fromHex(RFC8032[1]!.seed);
    const first = nativeEd25519.publicKey(seed);
    first.fill(0);
    expect(toHex(nativeEd25519.publicKey(seed))).toBe(RFC8032[1]!.pub);
  });

  it("agree on random keys and messages, and on every corruption", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat(511),
        (seed, msg, other, bit) => {
          const pub = nobleEd25519.publicKey(seed);
          const sig = nobleEd25519.sign(msg, seed);
          expect(toHex(nativeEd25519.publicKey(seed))).toBe(toHex(pub));
          expect(toHex(nativeEd25519.sign(msg, seed))).toBe(toHex(sig));
          expect(verdicts(sig, msg, pub)).toEqual([true, true]);
          // Wrong key.
          const pub2 = nobleEd25519.publicKey(other);
          if (toHex(pub2) !== toHex(pub)) expect(verdicts(sig, msg, pub2)).toEqual([false, false]);
          // Wrong message.
          expect(verdicts(sig, concat(msg, Uint8Array.of(0)), pub)).toEqual([false, false]);
          // A flipped bit anywhere in the signature.
          const bad = sig.slice();
          bad[bit >> 3]! ^= 1 << (bit & 7);
          expect(verdicts(bad, msg, pub)).toEqual([false, false]);
          // A random public key (often not a point, sometimes weak): both agree.
          const [n, o] = verdicts(sig, msg, other);
          expect(o).toBe(n);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuse malformed lengths without throwing", () => {
    const v = RFC8032[1]!;
    for (const b of BACKENDS) {
      expect(b.verify(fromHex(v.sig).subarray(0, 63), fromHex(v.msg), fromHex(v.pub))).toBe(false);
      expect(b.verify(fromHex(v.sig), fromHex(v.msg), fromHex(v.pub).subarray(0, 31))).toBe(false);
      expect(() => b.sign(utf8("x"), new Uint8Array(31))).toThrow();
    }
  });
});

describe("crafted signatures: the strict cofactorless rule, on both back ends", () => {
  const pub = fromHex(RFC8032[0]!.pub);
  const msg = utf8("crafted");

  it("refuse S + L (the same signature with a non-reduced S), as OpenSSL does", () => {
    const sig = nobleEd25519.sign(msg, fromHex(RFC8032[0]!.seed));
    const s = leInt(sig.subarray(32));
    const high = concat(sig.subarray(0, 32), le(s + L));
    expect(rawOpenssl(high, msg, pub)).toBe(false);
    expect(verdicts(high, msg, pub)).toEqual([false, false]);
  });

  it("refuse S = L, and S with the top bits set", () => {
    const sig = nobleEd25519.sign(msg, fromHex(RFC8032[0]!.seed));
    for (const s of [le(L), new Uint8Array(32).fill(0xff)]) {
      const bad = concat(sig.subarray(0, 32), s);
      expect(rawOpenssl(bad, msg, pub)).toBe(false);
      expect(verdicts(bad, msg, pub)).toEqual([false, false]);
    }
  });

  it("accept R = the identity when the equation holds (Go and OpenSSL do too)", () => {
    // [S]B - [k]A = identity with S = k·a.
    const r = encode(ed.Point.ZERO);
    const k = challenge(r, pub, msg);
    const sig = concat(r, le((k * keyA.scalar) % L));
    expect(rawOpenssl(sig, msg, pub)).toBe(true);
    expect(verdicts(sig, msg, pub)).toEqual([true, true]);
  });

  it("refuse a non-canonical R (the identity encoded with y = p + 1)", () => {
    const r = le(P + 1n);
    const k = challenge(r, pub, msg);
    const sig = concat(r, le((k * keyA.scalar) % L));
    expect(rawOpenssl(sig, msg, pub)).toBe(false);
    expect(verdicts(sig, msg, pub)).toEqual([false, false]);
  });

  it("refuse R with a torsion component, which cofactored verification accepts", () => {
    const rScalar = 12345n;
    const R = ed.Point.BASE.multiply(rScalar).add(T8);
    const r = R.toBytes();
    const k = challenge(r, pub, msg);
    const sig = concat(r, le((rScalar + k * keyA.scalar) % L));
    expect(ed.verify(sig, msg, pub, { zip215: false })).toBe(true); // noble's cofactored verify
    expect(rawOpenssl(sig, msg, pub)).toBe(false);
    expect(verdicts(sig, msg, pub)).toEqual([false, false]);
  });

  it("refuse a mixed-order key (A + T) whose signature passes only cofactored verification", () => {
    const mixed = keyA.point.add(T8).toBytes();
    expect(isWeakPublicKey(mixed)).toBe(false);
    let found = 0;
    for (let i = 0n; found < 2 && i < 100n; i++) {
      const rScalar = 1000n + i;
      const r = ed.Point.BASE.multiply(rScalar).toBytes();
      const k = challenge(r, mixed, msg);
      const sig = concat(r, le((rScalar + k * keyA.scalar) % L));
      expect(ed.verify(sig, msg, mixed, { zip215: false })).toBe(true);
      // [S]B - [k]A' = R - [k]T: equal to R only when 8 divides k.
      const expected = k % 8n === 0n;
      expect(rawOpenssl(sig, msg, mixed)).toBe(expected);
      expect(verdicts(sig, msg, mixed)).toEqual([expected, expected]);
      if (!expected) found++;
    }
    expect(found).toBe(2);
  });

  it("refuse every small-order public key, in every encoding, even with a signature OpenSSL accepts", () => {
    const canonical = SMALL_ORDER_POINTS.map(encode);
    expect(new Set(canonical.map(toHex)).size).toBe(8);
    const nonCanonical = [
      le(P), // y = 0
      le(P + 1n), // y = 1 (the identity)
      le(P | (1n << 255n)),
      le((P + 1n) | (1n << 255n)),
      le(1n | (1n << 255n)), // the identity with x = "-0"
      le((P - 1n) | (1n << 255n)), // the point of order 2 with x = "-0"
    ];
    let opensslAccepted = 0;
    for (const a of [...canonical, ...nonCanonical]) {
      expect(isWeakPublicKey(a), toHex(a)).toBe(true);
      // R = [s]B, retried until 8 divides k: then [S]B - [k]A = R for any A of small order.
      for (let s = 1n; ; s++) {
        const r = ed.Point.BASE.multiply(s).toBytes();
        const m = concat(msg, le(s));
        if (challenge(r, a, m) % 8n !== 0n) continue;
        const sig = concat(r, le(s));
        if (rawOpenssl(sig, m, a)) opensslAccepted++;
        expect(verdicts(sig, m, a), toHex(a)).toEqual([false, false]);
        break;
      }
    }
    // OpenSSL alone (3.0, node:crypto and the openssl command alike) accepts all 14 forgeries,
    // non-canonical keys included: the native back end's byte-level pre-checks refuse them.
    expect(opensslAccepted).toBe(14);
  });

  it("refuse non-canonical encodings (y >= p) of ordinary keys", () => {
    for (let y = 2n; y < 19n; y++) {
      const a = le(P + y);
      expect(isWeakPublicKey(a)).toBe(true);
      const sig = nobleEd25519.sign(msg, fromHex(RFC8032[0]!.seed));
      expect(verdicts(sig, msg, a)).toEqual([false, false]);
    }
  });
});
