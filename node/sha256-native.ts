// The node:crypto (OpenSSL) SHA-256 back end, what "#sha256" resolves to under the "node"
// condition (package.json "imports"). A one-shot crypto.hash costs a third of @noble/hashes'
// JavaScript on 65-byte tree nodes and a sixth on the write path's leaves (~500 bytes), as
// bench/sha256.ts measured; the log hashes every leaf twice and a few dozen nodes per event.

import * as crypto from "node:crypto";

type OneShot = (alg: string, data: Uint8Array, enc: "latin1") => string;
// crypto.hash (one call, no Hash object) is in Node >= 20.12; createHash is the fallback.
const oneShot = (crypto as unknown as { hash?: OneShot }).hash;

/** SHA-256 of `data`, a fresh 32-byte plain Uint8Array. */
export function nativeSha256(data: Uint8Array): Uint8Array {
  // The digest comes back as a 32-character latin1 string and is copied into a small array:
  // a Buffer result costs an ArrayBuffer with its own backing store per hash, twice the time of
  // the whole hash of a tree node (and garbage the collector tracks one by one). Not a Buffer
  // either way: a Buffer's slice() shares memory where a Uint8Array's copies.
  return fromLatin1(oneShot ? oneShot("sha256", data, "latin1") : latin1Digest(data));
}

/** The same through a Hash object: Node before 20.12, and the tests. */
export function nativeSha256ByHashObject(data: Uint8Array): Uint8Array {
  return fromLatin1(latin1Digest(data));
}

function latin1Digest(data: Uint8Array): string {
  return crypto.createHash("sha256").update(data).digest("binary");
}

function fromLatin1(s: string): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** This module's back end, under the name every "#sha256" target exports. */
export const sha256Backend: (data: Uint8Array) => Uint8Array = nativeSha256;
