// The node:crypto (OpenSSL) SHA-256 back end, what "#sha256" resolves to under the "node"
// condition (package.json "imports"). A one-shot crypto.hash costs a fraction of @noble/hashes'
// JavaScript on the write path's leaves (~500 bytes) and a half on 65-byte tree nodes
// (bench/sha256.ts); the log hashes every leaf twice and a few dozen nodes per event.

import * as crypto from "node:crypto";

// crypto.hash (one call, no Hash object) is in Node >= 20.12; createHash is the fallback.
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: "buffer") => Buffer }).hash;

/** SHA-256 of `data`, a fresh 32-byte array (a plain Uint8Array over the digest's own buffer). */
export function nativeSha256(data: Uint8Array): Uint8Array {
  const d = oneShot ? oneShot("sha256", data, "buffer") : crypto.createHash("sha256").update(data).digest();
  // Not a Buffer: a Buffer's slice() shares memory where a Uint8Array's copies, and callers may
  // keep or compare what they get as a plain Uint8Array.
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
}

/** This module's back end, under the name every "#sha256" target exports. */
export const sha256Backend: (data: Uint8Array) => Uint8Array = nativeSha256;
