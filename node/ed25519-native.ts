// The node:crypto (OpenSSL) Ed25519 back end, what "#ed25519" resolves to under the "node"
// condition (package.json "imports"). OpenSSL already checks S < L and the cofactorless
// equation by comparing R's bytes; the byte-level checks below add the rest of core/ed25519.ts's
// rule (canonical A, no small-order A) without decoding points in BigInt, which would cost more
// than the native verification itself.

import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import type { Ed25519 } from "../core/ed25519.js";
import { TrustlogError } from "../core/errors.js";
import { Lru } from "../core/lru.js";

const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_BYTES = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

function hex(h: string): Uint8Array {
  return Uint8Array.from(h.match(/../g)!.map((b) => Number.parseInt(b, 16)));
}

// Canonical encodings of the 8 points of small order, plus the two "negative zero" encodings
// (x = 0 with the sign bit set) of the points with x = 0, which strict decoding refuses. The
// other non-canonical encodings have y >= p and fail isCanonicalY.
const SMALL_ORDER = [
  "0100000000000000000000000000000000000000000000000000000000000000", // identity
  "0100000000000000000000000000000000000000000000000000000000000080", // identity, -0
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, -0
  "0000000000000000000000000000000000000000000000000000000000000000", // order 4
  "0000000000000000000000000000000000000000000000000000000000000080", // order 4
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
].map(hex);

/** S < L, comparing the little-endian bytes from the most significant end. */
export function isScalarReduced(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    if (s[i]! !== L_BYTES[i]!) return s[i]! < L_BYTES[i]!;
  }
  return false;
}

/** y < p = 2^255 - 19, y being the encoding without its sign bit. */
function isCanonicalY(a: Uint8Array): boolean {
  if ((a[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (a[i] !== 0xff) return true;
  return a[0]! < 0xed;
}

function isSmallOrderEncoding(a: Uint8Array): boolean {
  outer: for (const e of SMALL_ORDER) {
    for (let i = 0; i < 32; i++) if (a[i] !== e[i]) continue outer;
    return true;
  }
  return false;
}

// The same few keys (log, witnesses, account keys) verify again and again: keep their KeyObjects.
const publicKeys = new Lru<string, KeyObject>(4096);
const privateKeys = new Lru<string, KeyObject>(64);
// Deriving a public key goes through a DER export; signers (sealEvent, the SCIM bridge) ask for
// the same few again and again.
const derivedPublicKeys = new Lru<string, Uint8Array>(64);

function cached(cache: Lru<string, KeyObject>, key: string, make: () => KeyObject): KeyObject {
  let k = cache.get(key);
  if (k === undefined) {
    k = make();
    cache.set(key, k);
  }
  return k;
}

function publicKeyObject(pub: Uint8Array): KeyObject {
  // From a JWK, not SPKI DER: Node imports an OKP JWK with EVP_PKEY_new_raw_public_key, while
  // DER goes through OpenSSL 3's decoder framework, which costs more than the verification
  // itself; the write path sees mostly new account keys, so import cost matters (issue 13).
  const b = Buffer.from(pub);
  return cached(publicKeys, b.toString("latin1"), () =>
    createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: b.toString("base64url") }, format: "jwk" }),
  );
}

function privateKeyObject(seed: Uint8Array): KeyObject {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new TrustlogError("BAD_KEY", "an Ed25519 seed is 32 bytes");
  }
  return cached(privateKeys, Buffer.from(seed).toString("latin1"), () =>
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" }),
  );
}

export const nativeEd25519: Ed25519 = {
  name: "node:crypto",
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    if (!isScalarReduced(signature.subarray(32))) return false;
    if (!isCanonicalY(publicKey) || isSmallOrderEncoding(publicKey)) return false;
    try {
      return verify(null, message, publicKeyObject(publicKey), signature);
    } catch {
      return false; // not a point on the curve
    }
  },
  sign(message, seed) {
    return new Uint8Array(sign(null, message, privateKeyObject(seed)));
  },
  publicKey(seed) {
    const key = privateKeyObject(seed); // validates the seed
    const id = Buffer.from(seed).toString("latin1");
    let pub = derivedPublicKeys.get(id);
    if (pub === undefined) {
      const der = createPublicKey(key).export({ format: "der", type: "spki" });
      pub = new Uint8Array(der.subarray(SPKI_PREFIX.length));
      derivedPublicKeys.set(id, pub);
    }
    // A copy: callers may write into what they get.
    return pub.slice();
  },
};

/** This module's back end, under the name every "#ed25519" target exports. */
export const backend: Ed25519 = nativeEd25519;
