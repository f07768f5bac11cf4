// Ed25519 behind one small interface, with its back end chosen by conditional import: the
// package-internal specifier "#ed25519" (package.json "imports") resolves under the "node"
// condition to the native node:crypto back end (node/ed25519-native.ts), which verifies many
// times faster, and elsewhere (browsers, bundles for them) to @noble/ed25519, pure JavaScript
// (core/ed25519-noble.ts). Both must give the same answers for every input:
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

import { backend } from "#ed25519";
import type { Ed25519 } from "./ed25519-noble.js";

export { type Ed25519, isWeakPublicKey, nobleEd25519 } from "./ed25519-noble.js";

let current: Ed25519 | undefined;

/** The back end in use: the one "#ed25519" resolved to, unless setEd25519 installed another. */
export function ed25519(): Ed25519 {
  // Read at call time, not at load: node/ed25519-native.ts imports this module in turn.
  return current ?? backend;
}

/** Overrides the back end for the whole process (tests that compare back ends); rarely needed. */
export function setEd25519(impl: Ed25519): void {
  current = impl;
}
