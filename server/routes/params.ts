// Query and path parameters are attacker-controlled: decimals are C2SP-strict (no sign, no
// leading zeros, no spaces) and below 2^53, hashes strict base64 of 32 bytes.

import { fromBase64, parseDecimal } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";

export function decimal(value: string | undefined, name: string): number;
export function decimal(value: string | undefined, name: string, optional: true): number | undefined;
export function decimal(value: string | undefined, name: string, optional = false): number | undefined {
  if (value === undefined) {
    if (optional) return undefined;
    throw new TrustlogError("BAD_QUERY", `${name} is required`);
  }
  const n = parseDecimal(value);
  if (n === undefined) throw new TrustlogError("BAD_QUERY", `${name} must be a decimal number`);
  return n;
}

export function hash32(value: string, name: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(value);
  } catch {
    throw new TrustlogError("BAD_QUERY", `${name} must be base64`);
  }
  if (bytes.length !== 32) throw new TrustlogError("BAD_QUERY", `${name} must be 32 bytes`);
  return bytes;
}

/** Ids of orgs and accounts (DESIGN.md §3): checked before they reach a query. */
export function id(value: string, name: string): string {
  if (!/^[A-Za-z0-9._@+-]{1,128}$/.test(value))
    throw new TrustlogError("BAD_QUERY", `${name} is not a valid id`);
  return value;
}
