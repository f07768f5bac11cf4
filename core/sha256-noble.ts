// SHA-256 in pure JavaScript (@noble/hashes), what "#sha256" resolves to outside Node (package.json
// "imports"; core/sha256.ts says why there are two back ends). Also the reference the native back
// end is cross-checked against (test/core/sha256.test.ts).

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

// One reused hasher: noble's one-shot sha256() allocates a hasher with its buffers and views on
// every call, about a third of the cost of hashing a 65-byte tree node (bench/mpt.ts). Hashing is
// synchronous and never re-entered, so one hasher reset from a pristine copy is safe.
const pristine = nobleSha256.create();
const hasher = nobleSha256.create();

/** SHA-256 of `data`, a fresh 32-byte array. */
export function nobleSha256Digest(data: Uint8Array): Uint8Array {
  pristine._cloneInto(hasher);
  hasher.update(data);
  return hasher.digest();
}

/** This module's back end, under the name every "#sha256" target exports. */
export const sha256Backend: (data: Uint8Array) => Uint8Array = nobleSha256Digest;
