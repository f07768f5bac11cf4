// signed-note keys in the Go format (golang.org/x/mod/sumdb/note): verifier keys
// "<name>+<key id hex>+<base64(type || public key)>" and signer keys
// "PRIVATE+KEY+<name>+<key id hex>+<base64(type || seed)>", for the two key types trustlog uses
// (0x01 Ed25519 note signatures, 0x04 C2SP tlog-cosignature), and the signers and verifiers
// they make. The note format itself is core/note.ts.

import { concat, equalBytes, fromBase64, fromHex, toBase64, toHex } from "./bytes.js";
import { cosignatureSigner, cosignatureVerifier } from "./cosignature.js";
import { ed25519, isWeakPublicKey } from "./ed25519.js";
import { TrustlogError } from "./errors.js";
import {
  checkName,
  NOTE_TYPE_COSIGNATURE_V1,
  NOTE_TYPE_ED25519,
  type NoteSigner,
  type NoteVerifier,
  noteKeyId,
} from "./note.js";

function keyIdHex(keyId: Uint8Array): string {
  return toHex(keyId);
}

function checkType(type: number): void {
  if (type !== NOTE_TYPE_ED25519 && type !== NOTE_TYPE_COSIGNATURE_V1) {
    throw new TrustlogError("BAD_KEY", `unsupported key type 0x${type.toString(16).padStart(2, "0")}`);
  }
}

export function formatVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  checkName(name, "BAD_KEY");
  checkType(type);
  if (publicKey.length !== 32) throw new TrustlogError("BAD_KEY", "an Ed25519 public key is 32 bytes");
  const id = noteKeyId(name, type, publicKey);
  return `${name}+${keyIdHex(id)}+${toBase64(concat(Uint8Array.of(type), publicKey))}`;
}

/** Builds the Go-format signer key (and its vkey) for a 32-byte Ed25519 seed. */
export function generateSignerKey(
  name: string,
  seed: Uint8Array,
  type: number = NOTE_TYPE_ED25519,
): { skey: string; vkey: string } {
  checkName(name, "BAD_KEY");
  checkType(type);
  const pub = ed25519().publicKey(seed);
  const id = noteKeyId(name, type, pub);
  return {
    skey: `PRIVATE+KEY+${name}+${keyIdHex(id)}+${toBase64(concat(Uint8Array.of(type), seed))}`,
    vkey: formatVerifierKey(name, type, pub),
  };
}

// Splits "a+b+c" into [a, rest] at the first "+", like Go's strings.Cut.
function cut(s: string): [string, string | undefined] {
  const i = s.indexOf("+");
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

// Parses "<name>+<hex id>+<base64(type||key)>" (the tail of a vkey or skey). The base64 part may
// itself contain "+", so only the first two "+" separate fields.
function parseKeyFields(text: string): { name: string; keyId: Uint8Array; type: number; key: Uint8Array } {
  const [name, rest] = cut(text);
  if (rest === undefined) throw new TrustlogError("BAD_KEY", "key has too few fields");
  const [hex, b64] = cut(rest);
  if (b64 === undefined) throw new TrustlogError("BAD_KEY", "key has too few fields");
  checkName(name, "BAD_KEY");
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw new TrustlogError("BAD_KEY", "key id is not 8 hex digits");
  let raw: Uint8Array;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new TrustlogError("BAD_KEY", "key material is not valid base64");
  }
  if (raw.length < 1) throw new TrustlogError("BAD_KEY", "key material is empty");
  const type = raw[0]!;
  checkType(type);
  const key = raw.slice(1);
  if (key.length !== 32) throw new TrustlogError("BAD_KEY", "an Ed25519 key is 32 bytes");
  return { name, keyId: fromHex(hex), type, key };
}

export type ParsedVerifierKey = NoteVerifier & { readonly publicKey: Uint8Array; readonly type: number };

/** Parses a vkey (types 0x01 Ed25519 note signature, 0x04 cosignature/v1). Throws BAD_KEY. */
export function parseVerifierKey(vkey: string): ParsedVerifierKey {
  if (typeof vkey !== "string" || vkey.length > 1000)
    throw new TrustlogError("BAD_KEY", "invalid verifier key");
  const { name, keyId, type, key } = parseKeyFields(vkey);
  if (!equalBytes(keyId, noteKeyId(name, type, key))) {
    throw new TrustlogError("BAD_KEY", "key id does not match the key", { name });
  }
  if (isWeakPublicKey(key))
    throw new TrustlogError("BAD_KEY", "public key is not a valid Ed25519 key", { name });
  const base =
    type === NOTE_TYPE_COSIGNATURE_V1 ? cosignatureVerifier(name, key) : ed25519NoteVerifier(name, key);
  return { name: base.name, keyId: base.keyId, verify: base.verify, publicKey: key, type };
}

export type ParsedSignerKey = NoteSigner & {
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly type: number;
  readonly vkey: string;
};

/**
 * Parses a Go-format signer key `PRIVATE+KEY+<name>+<hex id>+<base64(type||seed)>`. Type 0x04
 * gives a cosignature/v1 signer, which stamps each signature with `options.clock()` (POSIX
 * seconds); without a clock such a key is refused. Throws BAD_KEY.
 */
export function parseSignerKey(skey: string, options: { clock?: () => number } = {}): ParsedSignerKey {
  if (typeof skey !== "string" || !skey.startsWith("PRIVATE+KEY+") || skey.length > 1000) {
    throw new TrustlogError("BAD_KEY", "not a PRIVATE+KEY signer key");
  }
  const { name, keyId, type, key: seed } = parseKeyFields(skey.slice("PRIVATE+KEY+".length));
  const publicKey = ed25519().publicKey(seed);
  if (!equalBytes(keyId, noteKeyId(name, type, publicKey))) {
    throw new TrustlogError("BAD_KEY", "key id does not match the key", { name });
  }
  let base: NoteSigner;
  if (type === NOTE_TYPE_COSIGNATURE_V1) {
    if (options.clock === undefined) throw new TrustlogError("BAD_KEY", "a cosignature key needs a clock");
    base = cosignatureSigner(name, seed, options.clock);
  } else {
    base = ed25519NoteSigner(name, seed);
  }
  return {
    name: base.name,
    keyId: base.keyId,
    sign: base.sign,
    seed,
    publicKey,
    type,
    vkey: formatVerifierKey(name, type, publicKey),
  };
}

/** A plain Ed25519 (type 0x01) note signer: the payload is the signature over the body. */
export function ed25519NoteSigner(name: string, seed: Uint8Array): NoteSigner {
  checkName(name, "BAD_KEY");
  const keyId = noteKeyId(name, NOTE_TYPE_ED25519, ed25519().publicKey(seed));
  const s = seed.slice();
  return { name, keyId, sign: (body) => ed25519().sign(body, s) };
}

/** A plain Ed25519 (type 0x01) note verifier. */
export function ed25519NoteVerifier(name: string, publicKey: Uint8Array): NoteVerifier {
  checkName(name, "BAD_KEY");
  if (publicKey.length !== 32) throw new TrustlogError("BAD_KEY", "an Ed25519 public key is 32 bytes");
  const keyId = noteKeyId(name, NOTE_TYPE_ED25519, publicKey);
  const pub = publicKey.slice();
  return { name, keyId, verify: (body, payload) => ed25519().verify(payload, body, pub) };
}
