// The pure-JavaScript Ed25519 back end (@noble/ed25519): the one browsers and other non-Node
// runtimes use, and the reference the native back end is cross-tested against. The rule it
// implements is stated in core/ed25519.ts. Imported as "#ed25519" under the "default" condition
// (package.json "imports"), so `backend` is what core/ed25519.ts uses where Node's is not.

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { equalBytes } from "./bytes.js";
import { TrustlogError } from "./errors.js";

ed.etc.sha512Sync = (...m: Uint8Array[]) => sha512(ed.etc.concatBytes(...m));

export interface Ed25519 {
  readonly name: string;
  /** Strict verification as core/ed25519.ts describes; false for any malformed input, never throws. */
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

/** This module's back end, under the name every "#ed25519" target exports. */
export const backend: Ed25519 = nobleEd25519;
