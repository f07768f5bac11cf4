// Ed25519 behind one small interface. Core uses @noble/ed25519 (pure JS, runs in browsers);
// Node entry points install the native node:crypto back end (node/ed25519-native.ts), which
// verifies ~13x faster. Both must give the same answers: test/core/ed25519.test.ts cross-checks.
//
// The verification rule both back ends implement (so that a log, a witness and a client can
// never disagree about an entry):
//   - RFC 8032 strict decoding: public key and R must be canonical encodings (y < p), S < L;
//   - public keys of small order (the 8 torsion points, in any encoding) are refused, since a
//     small-order key lets one signature verify over many messages.

import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
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

/** True when `publicKey` decodes (strictly) to a point of small order, or does not decode. */
export function isWeakPublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== 32) return true;
  try {
    return ed.ExtendedPoint.fromHex(publicKey, false).isSmallOrder();
  } catch {
    return true;
  }
}

function checkSeed(seed: Uint8Array): void {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) {
    throw new TrustlogError("BAD_KEY", "an Ed25519 seed is 32 bytes");
  }
}

export const nobleEd25519: Ed25519 = {
  name: "noble",
  verify(signature, message, publicKey) {
    if (signature.length !== 64 || publicKey.length !== 32) return false;
    if (isWeakPublicKey(publicKey)) return false;
    try {
      return ed.verify(signature, message, publicKey, { zip215: false });
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
