// Byte helpers shared by every core module. Uint8Array in and out, never Buffer, so that
// core runs unchanged in browsers.

import { TrustlogError } from "./errors.js";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));
const HEX_CODES = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));
const PAD = 61; // "="

// Encoders write ASCII codes into one scratch buffer and turn them into a string in one call:
// building the text piece by piece made a string per group, the largest allocation of a write
// request (its hashes, keys and proofs are all encoded). "latin1" is windows-1252 in the WHATWG
// encoding standard, the same as ASCII for the codes written here, in browsers as in Node.
const ascii = new TextDecoder("latin1");
let scratch = new Uint8Array(4096);

/** A buffer for `n` codes: the shared one, grown up to 1 MiB; a fresh one beyond. */
function codes(n: number): Uint8Array {
  if (n <= scratch.length) return scratch;
  if (n > 1 << 20) return new Uint8Array(n);
  scratch = new Uint8Array(Math.min(1 << 20, Math.max(n, 2 * scratch.length)));
  return scratch;
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(bytes: Uint8Array): string {
  const out = codes(Math.ceil(bytes.length / 3) * 4);
  let o = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o] = B64_CODES[n >> 18]!;
    out[o + 1] = B64_CODES[(n >> 12) & 63]!;
    out[o + 2] = B64_CODES[(n >> 6) & 63]!;
    out[o + 3] = B64_CODES[n & 63]!;
    o += 4;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    out[o] = B64_CODES[n >> 18]!;
    out[o + 1] = B64_CODES[(n >> 12) & 63]!;
    out[o + 2] = rest === 2 ? B64_CODES[(n >> 6) & 63]! : PAD;
    out[o + 3] = PAD;
    o += 4;
  }
  return ascii.decode(out.subarray(0, o));
}

/** The 6-bit value of the base64 digit at `i`; throws BAD_BASE64 naming the position. */
function digit(text: string, i: number): number {
  const c = text.charCodeAt(i);
  const d = c < 128 ? B64_INDEX[c]! : -1;
  if (d < 0) throw new TrustlogError("BAD_BASE64", `invalid base64 character at ${i}`);
  return d;
}

/**
 * Checks `text` as strict base64 (below) and writes its bytes into `out` when given; returns
 * how many bytes it encodes. Allocates nothing: the write path checks every key and signature
 * of every event, and a per-group array here was the largest allocation of a request.
 */
function decodeBase64(text: string, out: Uint8Array | undefined): number {
  if (text.length % 4 !== 0) throw new TrustlogError("BAD_BASE64", "base64 length is not a multiple of 4");
  // The padding is the trailing "=" or "==", so every other character must be a digit.
  let pad = 0;
  if (text.endsWith("==")) pad = 2;
  else if (text.endsWith("=")) pad = 1;
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const n =
      (digit(text, i) << 18) |
      (digit(text, i + 1) << 12) |
      (last && pad === 2 ? 0 : digit(text, i + 2) << 6) |
      (last && pad >= 1 ? 0 : digit(text, i + 3));
    if (last && pad === 2) {
      if (n & 0xffff) throw new TrustlogError("BAD_BASE64", "non-canonical base64 (trailing bits)");
      if (out) out[o] = n >> 16;
      o += 1;
    } else if (last && pad === 1) {
      if (n & 0xff) throw new TrustlogError("BAD_BASE64", "non-canonical base64 (trailing bits)");
      if (out) {
        out[o] = n >> 16;
        out[o + 1] = (n >> 8) & 255;
      }
      o += 2;
    } else {
      if (out) {
        out[o] = n >> 16;
        out[o + 1] = (n >> 8) & 255;
        out[o + 2] = n & 255;
      }
      o += 3;
    }
  }
  return o;
}

/**
 * Strict standard base64 decoding: padded, standard alphabet, no whitespace, and the unused
 * bits of the last group must be zero, so that every byte string has exactly one encoding
 * (a re-encoding always gives back the input text). Throws TrustlogError("BAD_BASE64").
 */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new TrustlogError("BAD_BASE64", "base64 length is not a multiple of 4");
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  decodeBase64(text, out);
  return out;
}

/**
 * How many bytes strict base64 `text` encodes, checked exactly as fromBase64 checks it
 * (TrustlogError "BAD_BASE64"), without decoding them anywhere.
 */
export function base64Length(text: string): number {
  return decodeBase64(text, undefined);
}

export function toHex(bytes: Uint8Array): string {
  const out = codes(2 * bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_CODES[bytes[i]! >> 4]!;
    out[2 * i + 1] = HEX_CODES[bytes[i]! & 15]!;
  }
  return ascii.decode(out.subarray(0, 2 * bytes.length));
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex))
    throw new TrustlogError("BAD_HEX", "invalid hex string");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Decodes UTF-8, refusing invalid sequences (TrustlogError "BAD_UTF8"). */
export function fromUtf8(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    throw new TrustlogError("BAD_UTF8", "invalid UTF-8");
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Big-endian unsigned 64-bit encoding of a safe integer. */
export function u64be(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new TrustlogError("BAD_INTEGER", `not a uint64: ${n}`);
  const out = new Uint8Array(8);
  const hi = Math.floor(n / 2 ** 32);
  const lo = n >>> 0;
  new DataView(out.buffer).setUint32(0, hi);
  new DataView(out.buffer).setUint32(4, lo);
  return out;
}

/**
 * Parses a decimal with no sign, no leading zeros and no spaces, as the C2SP formats require,
 * into a safe integer. Returns undefined when the text is not such a decimal.
 */
export function parseDecimal(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
