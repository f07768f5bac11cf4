// C2SP signed-note (c2sp.org/signed-note), interoperable with golang.org/x/mod/sumdb/note.
//
//   <body: one or more non-empty lines, each ending in "\n">
//   "\n"
//   "— <key name> <base64(key id (4) || signature payload)>\n"   (one or more)
//
// Everything parsed here is attacker-controlled (notes come from logs and witnesses over the
// network), so parsing is strict and capped: at most MAX_NOTE_BYTES in total and at most
// MAX_NOTE_SIGNATURES signature lines (Go's limit; the spec asks verifiers to accept at least
// 16, and trustlog publishes at most 16 on a checkpoint).

import { concat, equalBytes, fromBase64, fromUtf8, toBase64, toHex, utf8 } from "./bytes.js";
import { type ErrorCode, TrustlogError } from "./errors.js";
import { sha256 } from "./sha256.js";

export const MAX_NOTE_BYTES = 1 << 20;
export const MAX_NOTE_SIGNATURES = 100;

/** Signature type bytes (signed-note §"Signature types"). */
export const NOTE_TYPE_ED25519 = 0x01;
export const NOTE_TYPE_COSIGNATURE_V1 = 0x04;

const SIG_PREFIX = "— "; // U+2014 EM DASH, then a space

export interface NoteSigner {
  readonly name: string;
  /** 4 bytes. */
  readonly keyId: Uint8Array;
  /** The signature payload over the note body, without the key id. */
  sign(body: Uint8Array): Uint8Array;
}

export interface NoteVerifier {
  readonly name: string;
  /** 4 bytes. */
  readonly keyId: Uint8Array;
  /** False for any bad or malformed payload; never throws. */
  verify(body: Uint8Array, payload: Uint8Array): boolean;
}

export interface NoteSignature {
  readonly name: string;
  readonly keyId: Uint8Array;
  /** The decoded signature after the key id. */
  readonly payload: Uint8Array;
  /** The whole signature line as it appeared, "— " prefix included, without its "\n". */
  readonly line: string;
}

export interface ParsedNote {
  /** The signed text: every body line with its "\n". */
  readonly body: string;
  /** Every signature line, in order (duplicates included). */
  readonly signatures: NoteSignature[];
}

export interface OpenedNote extends ParsedNote {
  /** Each known verifier whose signature is present and valid, once, in order of appearance. */
  readonly verified: NoteVerifier[];
}

// Go's unicode.IsSpace: ASCII whitespace plus the Unicode White_Space code points.
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
// A JS string can hold lone surrogates, which have no UTF-8 encoding.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
// Go's note.Open refuses every ASCII control character except "\n".
const CONTROL = /[\x00-\x09\x0b-\x1f]/;

/** Key names: non-empty, valid UTF-8, no whitespace, no "+" (it separates vkey fields). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !SPACE.test(name) && !name.includes("+") && !LONE_SURROGATE.test(name);
}

export function checkName(name: string, code: ErrorCode): void {
  if (typeof name !== "string" || !isValidKeyName(name)) {
    throw new TrustlogError(code, "invalid key name", { name: String(name).slice(0, 100) });
  }
}

/** Key id = SHA-256(name || "\n" || type || public key)[:4]. */
export function noteKeyId(name: string, type: number, publicKey: Uint8Array): Uint8Array {
  return sha256(concat(utf8(name), Uint8Array.of(0x0a, type), publicKey)).slice(0, 4);
}

function malformed(message: string): TrustlogError {
  return new TrustlogError("NOTE_MALFORMED", message);
}

// Checks a note body: non-empty lines each ending in "\n", no control characters, valid UTF-8.
function checkBody(body: string): void {
  if (body.length === 0 || !body.endsWith("\n"))
    throw malformed("note body must be non-empty and end in a newline");
  if (body.startsWith("\n") || body.includes("\n\n")) throw malformed("note body has an empty line");
  if (CONTROL.test(body) || LONE_SURROGATE.test(body)) throw malformed("note body has a control character");
}

function decodeText(text: string | Uint8Array): string {
  if (typeof text === "string") {
    // A string's UTF-8 length is never below its UTF-16 length, so this bound is safe.
    if (text.length > MAX_NOTE_BYTES) throw malformed("note too large");
    if (LONE_SURROGATE.test(text)) throw malformed("note is not valid UTF-8");
    if (utf8(text).length > MAX_NOTE_BYTES) throw malformed("note too large");
    return text;
  }
  if (!(text instanceof Uint8Array)) throw malformed("note must be text");
  if (text.length > MAX_NOTE_BYTES) throw malformed("note too large");
  try {
    return fromUtf8(text);
  } catch {
    throw malformed("note is not valid UTF-8");
  }
}

/**
 * Parses a signed note without checking signatures. Throws NOTE_MALFORMED.
 * `text` is attacker-controlled.
 */
export function parseNote(text: string | Uint8Array): ParsedNote {
  const s = decodeText(text);
  if (CONTROL.test(s)) throw malformed("note has a control character");
  // Split at the LAST blank line, as Go does: a signature line can never be empty, so
  // everything after it must be signatures.
  const split = s.lastIndexOf("\n\n");
  if (split < 0) throw malformed("note has no signature block");
  const body = s.slice(0, split + 1);
  const sigs = s.slice(split + 2);
  checkBody(body);
  if (sigs.length === 0 || !sigs.endsWith("\n")) throw malformed("signature block must end in a newline");
  const lines = sigs.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`more than ${MAX_NOTE_SIGNATURES} signatures`);
  const signatures: NoteSignature[] = [];
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX))
      throw malformed("signature line must start with an em dash and a space");
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space < 0) throw malformed("signature line has no signature");
    const name = rest.slice(0, space);
    if (!isValidKeyName(name)) throw malformed("invalid key name in signature line");
    let blob: Uint8Array;
    try {
      blob = fromBase64(rest.slice(space + 1));
    } catch {
      throw malformed("signature is not valid base64");
    }
    if (blob.length < 5) throw malformed("signature too short");
    signatures.push({ name, keyId: blob.slice(0, 4), payload: blob.slice(4), line });
  }
  return { body, signatures };
}

/**
 * Parses a note and checks its signatures against `verifiers`, matched by name AND key id.
 * Lines from unknown keys are kept and ignored. Throws NOTE_MALFORMED, NOTE_AMBIGUOUS_KEY (two
 * verifiers share a signature's name and key id), NOTE_SIG_INVALID (a known key's signature
 * does not verify: unlike Go, every line of a known key must verify, not only the first), or
 * NOTE_UNVERIFIED (no known key signed).
 */
export function openNote(text: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const note = parseNote(text);
  const bodyBytes = utf8(note.body);
  const verified: NoteVerifier[] = [];
  for (const sig of note.signatures) {
    const matches = verifiers.filter((v) => v.name === sig.name && equalBytes(v.keyId, sig.keyId));
    if (matches.length === 0) continue;
    const id = `${sig.name}+${toHex(sig.keyId)}`;
    if (matches.length > 1) throw new TrustlogError("NOTE_AMBIGUOUS_KEY", `ambiguous key ${id}`, { key: id });
    const v = matches[0]!;
    if (!v.verify(bodyBytes, sig.payload)) {
      throw new TrustlogError("NOTE_SIG_INVALID", `invalid signature for key ${id}`, { key: id });
    }
    if (!verified.includes(v)) verified.push(v);
  }
  if (verified.length === 0) {
    throw new TrustlogError("NOTE_UNVERIFIED", "note has no signature from a known key", {
      keys: note.signatures.map((s) => `${s.name}+${toHex(s.keyId)}`),
    });
  }
  return { ...note, verified };
}

/** Formats one signature line (without its "\n"). */
export function formatSignatureLine(name: string, keyId: Uint8Array, payload: Uint8Array): string {
  checkName(name, "NOTE_MALFORMED");
  if (keyId.length !== 4) throw malformed("a key id is 4 bytes");
  return `${SIG_PREFIX}${name} ${toBase64(concat(keyId, payload))}`;
}

/**
 * Assembles a note from a body and signature lines (each as `NoteSignature.line`, without
 * "\n"), checking both. Use it to add cosignature lines to a parsed note.
 */
export function formatNote(body: string, lines: readonly string[]): string {
  checkBody(body);
  if (lines.length === 0) throw malformed("a note needs at least one signature");
  const text = `${body}\n${lines.map((l) => `${l}\n`).join("")}`;
  const parsed = parseNote(text);
  if (parsed.body !== body || parsed.signatures.length !== lines.length)
    throw malformed("bad signature line");
  return text;
}

/** Signs `body` with each signer, in order, giving the note text (as Go's note.Sign would). */
export function signNote(body: string, signers: readonly NoteSigner[]): string {
  checkBody(body);
  if (signers.length === 0) throw malformed("a note needs at least one signer");
  const bytes = utf8(body);
  const lines = signers.map((s) => formatSignatureLine(s.name, s.keyId, s.sign(bytes)));
  return formatNote(body, lines);
}
