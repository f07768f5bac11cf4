// C2SP tlog-cosignature, cosignature/v1 (Ed25519, signature type 0x04): a witness's statement
// "at time T, this is the largest checkpoint of this log I have verified as consistent".
//
//   signed message = "cosignature/v1\n" || "time <T decimal>\n" || checkpoint body
//   payload (after the 4-byte key id) = T (8 bytes, big-endian) || Ed25519 signature (64)
//
// The cosigner name is not in the signed message, so one key must serve one cosigner only.

import { concat, u64be, utf8 } from "./bytes.js";
import { ed25519 } from "./ed25519.js";
import { TrustlogError } from "./errors.js";
import {
  isValidKeyName,
  NOTE_TYPE_COSIGNATURE_V1,
  type NoteSigner,
  type NoteVerifier,
  noteKeyId,
} from "./note.js";

export const COSIGNATURE_PAYLOAD_BYTES = 72;

function checkName(name: string): void {
  if (!isValidKeyName(name)) throw new TrustlogError("BAD_KEY", "invalid key name");
}

function checkTimestamp(t: number): void {
  // The spec allows up to 2^63-1; trustlog keeps timestamps to safe integers (year 285 million).
  if (!Number.isSafeInteger(t) || t < 0)
    throw new TrustlogError("BAD_TIMESTAMP", `not a POSIX timestamp: ${t}`);
}

/** The bytes a cosigner signs for `body` (a checkpoint body, with its final newline) at `timestamp`. */
export function cosignatureMessage(body: string | Uint8Array, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  const b = typeof body === "string" ? utf8(body) : body;
  return concat(utf8(`cosignature/v1\ntime ${timestamp}\n`), b);
}

/**
 * The timestamp of a cosignature/v1 payload (without key id). Throws COSIGNATURE_MALFORMED when
 * the payload is not 72 bytes or the time does not fit a safe integer. Attacker-controlled input.
 */
export function cosignatureTimestamp(payload: Uint8Array): number {
  if (payload.length !== COSIGNATURE_PAYLOAD_BYTES) {
    throw new TrustlogError("COSIGNATURE_MALFORMED", "a cosignature/v1 payload is 72 bytes");
  }
  const view = new DataView(payload.buffer, payload.byteOffset, 8);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  if (hi >= 2 ** 21) throw new TrustlogError("COSIGNATURE_MALFORMED", "cosignature timestamp out of range");
  return hi * 2 ** 32 + lo;
}

/** A cosignature/v1 signer; `clock` gives the current POSIX time in seconds. */
export function cosignatureSigner(name: string, seed: Uint8Array, clock: () => number): NoteSigner {
  checkName(name);
  const pub = ed25519().publicKey(seed);
  const keyId = noteKeyId(name, NOTE_TYPE_COSIGNATURE_V1, pub);
  const s = seed.slice();
  return {
    name,
    keyId,
    sign(body) {
      const t = clock();
      checkTimestamp(t);
      return concat(u64be(t), ed25519().sign(cosignatureMessage(body, t), s));
    },
  };
}

/** A cosignature/v1 verifier. It checks the signature only; policy on the time is the caller's. */
export function cosignatureVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  checkName(name);
  if (publicKey.length !== 32) throw new TrustlogError("BAD_KEY", "an Ed25519 public key is 32 bytes");
  const pub = publicKey.slice();
  const keyId = noteKeyId(name, NOTE_TYPE_COSIGNATURE_V1, pub);
  return {
    name,
    keyId,
    verify(body, payload) {
      let t: number;
      try {
        t = cosignatureTimestamp(payload);
      } catch {
        return false;
      }
      return ed25519().verify(payload.subarray(8), cosignatureMessage(body, t), pub);
    },
  };
}
