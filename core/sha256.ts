// SHA-256 behind one function, with its back end chosen by conditional import like Ed25519
// (core/ed25519.ts): "#sha256" (package.json "imports") resolves under the "node" condition to
// node:crypto (node/sha256-native.ts) and elsewhere to @noble/hashes (core/sha256-noble.ts).
// Hashing is on every hot path of the log (leaf hashes, tree nodes, the index of chain heads);
// the two back ends must agree on every input, which test/core/sha256.test.ts checks.

import { sha256Backend } from "#sha256";

/** SHA-256 of `data`, a fresh 32-byte array the caller may keep or write into. */
export const sha256: (data: Uint8Array) => Uint8Array = sha256Backend;
