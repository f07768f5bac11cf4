// SHA-256 in pure JavaScript (@noble/hashes), what "#sha256" resolves to outside Node (package.json
// "imports"; core/sha256.ts says why there are two back ends). Also the reference the native back
// end is cross-checked against (test/core/sha256.test.ts).

import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

/** SHA-256 of `data`, a fresh 32-byte array. */
export function nobleSha256Digest(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

/** This module's back end, under the name every "#sha256" target exports. */
export const sha256Backend: (data: Uint8Array) => Uint8Array = nobleSha256Digest;
