// Ed25519 behind one small interface. Core uses @noble/ed25519 (pure JS, runs in browsers);
// Node entry points install the native node:crypto back end (node/ed25519-native.ts), which
// verifies many times faster. Both must give the same answers for every input:
// test/core/ed25519.test.ts cross-checks them.
//
// The verification rule both back ends implement (so that a log, a witness and a client can
// never disagree about an entry), that of Go's crypto/ed25519 and OpenSSL plus a key check:
//   - RFC 8032 strict decoding: the public key A must be the canonical encoding of a point
//     (y < p, and no "negative zero" x); S < L;
//   - the cofactorless equation [S]B = R + [k]A, checked by encoding [S]B - [k]A and comparing
//     with R's bytes (so R must be canonical too). @noble/ed25519's own verify multiplies by the
//     cofactor and accepts signatures that Go and OpenSSL reject, so it is not used;
//   - public keys of small order (the 8 torsion points) are refused, since a small-order key
//     lets one signature verify over many messages.

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { equalBytes } from "./bytes.js";
import { TrustlogError } from "./errors.js";

ed.etc.sha512Sync = (...m: Uint8Array[]) => sha512(ed.etc.concatBytes(...m));

export interface Ed25519 {
  readonly name: string;
  /** Strict verification as described above; false for any malformed input, never throws. */
  verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  /** Signs with a 32-byte seed (RFC 8032 private key). */
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  /** The 32-byte public key of a 32-byte seed. */
  publicKey(seed: Uint8Array): Uint8Array;
}

const L = ed.CURVE.n;

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

// Decodes a point strictly: the encoding must be exactly the one the point re-encodes to.
function decodeCanonical(encoded: Uint8Array): ed.Point | undefined {
  if (encoded.length !== 32) return undefined;
  try {
    const p = ed.Point.fromBytes(encoded, false);
    return equalBytes(encode(p), encoded) ? p : undefined;
  } catch {
    return undefined;
  }
}

/** True when `publicKey` is not a canonical encoding of a point, or is a point of small order. */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  const a = decodeCanonical(publicKey);
  return a === undefined || a.isSmallOrder();
}

function checkSeed(seed: Uint8Array): void {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new TrustlogError("BAD_KEY", "an Ed25519 seed is 32 bytes");
  }
}

// noble refuses to encode the identity, which a valid signature may have as R.
function encode(p: ed.Point): Uint8Array {
  if (p.is0()) {
    const id = new Uint8Array(32);
    id[0] = 1;
    return id;
  }
  return p.toBytes();
}

function multiply(p: ed.Point, n: bigint): ed.Point {
  // Verification handles public values only, so the faster variable-time path is fine.
  return n === 0n ? ed.Point.ZERO : p.multiply(n, false);
}

function verifyCofactorless(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  const s = leToBigInt(signature.subarray(32));
  if (s >= L) return false;
  const a = decodeCanonical(publicKey);
  if (a === undefined || a.isSmallOrder()) return false;
  const r = signature.subarray(0, 32);
  const k = leToBigInt(sha512(ed.etc.concatBytes(r, publicKey, message))) % L;
  const sB = s === 0n ? ed.Point.ZERO : ed.Point.BASE.multiply(s);
  const check = sB.add(multiply(a, k).negate());
  return equalBytes(encode(check), r);
}

export const nobleEd25519: Ed25519 = {
  name: "noble",
  verify(signature, message, publicKey) {
    try {
      return verifyCofactorless(signature, message, publicKey);
    } catch {
      return false;
    }
  },
  sign(message, seed) {
    checkSeed(seed);
    return ed.sign(message, seed);
  },
  publicKey(seed) {
    checkSeed(seed);
    return ed.getPublicKey(seed);
  },
};

let current: Ed25519 = nobleEd25519;

/** The back end in use (noble unless an entry point installed another). */
export function ed25519(): Ed25519 {
  return current;
}

/** Installs a back end for the whole process; entry points call this once at start-up. */
export function setEd25519(impl: Ed25519): void {
  current = impl;
}
