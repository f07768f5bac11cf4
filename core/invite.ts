// Invite keys (DESIGN.md §3 "Invites"). The inviter draws a 32-byte secret and hands it to the
// invitee out of band; both derive the same Ed25519 key from it. Only the public half is ever
// logged (account.invite's `inviteKey`), and the invitee proves possession of the secret by
// co-signing the account's first key.add with the private half. A reader of the log therefore
// learns nothing that lets it write a first key, unlike a logged secret or a hash preimage.

import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes.js";
import { ed25519 } from "./ed25519.js";
import { TrustlogError } from "./errors.js";

export const INVITE_SECRET_BYTES = 32;
const INFO = utf8("trustlog invite v1");

export interface InviteKey {
  /** The Ed25519 seed that signs the first key.add. */
  seed: Uint8Array;
  /** Its public key: the account.invite body's `inviteKey`. */
  publicKey: Uint8Array;
}

/** seed = HKDF-SHA256(ikm = secret, salt = empty, info = "trustlog invite v1", L = 32). */
export function inviteKeyFromSecret(secret: Uint8Array): InviteKey {
  if (secret.length !== INVITE_SECRET_BYTES) {
    throw new TrustlogError(
      "MALFORMED",
      `an invite secret is ${INVITE_SECRET_BYTES} bytes, not ${secret.length}`,
    );
  }
  const seed = hkdf(sha256, secret, new Uint8Array(0), INFO, 32);
  return { seed, publicKey: ed25519().publicKey(seed) };
}
