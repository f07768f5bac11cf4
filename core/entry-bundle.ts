// C2SP tlog-tiles entry bundles: the leaves of a tile, each as a big-endian uint16 length then
// its bytes.

import { TrustlogError } from "./errors.js";
import { TILE_WIDTH } from "./tile-paths.js";

/** The largest entry an entry bundle can hold (uint16 length prefix). */
export const MAX_ENTRY_BYTES = 0xffff;

/** An entry bundle: each entry as a big-endian uint16 length then its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length < 1 || entries.length > TILE_WIDTH) {
    throw new TrustlogError(
      "BAD_ENTRY_BUNDLE",
      `a bundle holds 1..${TILE_WIDTH} entries, not ${entries.length}`,
    );
  }
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) {
      throw new TrustlogError("ENTRY_TOO_LARGE", `an entry of ${e.length} bytes does not fit a bundle`);
    }
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const e of entries) {
    out[o] = e.length >>> 8;
    out[o + 1] = e.length & 0xff;
    out.set(e, o + 2);
    o += 2 + e.length;
  }
  return out;
}

/**
 * Decodes an entry bundle (attacker-controlled when read from a mirror or CDN). Strict: no
 * trailing bytes, 1..256 entries, and exactly `expectedCount` when given (the tile's width).
 * Throws BAD_ENTRY_BUNDLE.
 */
export function decodeEntryBundle(data: Uint8Array, expectedCount?: number): Uint8Array[] {
  const fail = (why: string): never => {
    throw new TrustlogError("BAD_ENTRY_BUNDLE", `bad entry bundle: ${why}`);
  };
  if (!(data instanceof Uint8Array)) fail("not bytes");
  const entries: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    if (entries.length === TILE_WIDTH) fail(`more than ${TILE_WIDTH} entries`);
    if (o + 2 > data.length) fail("truncated length");
    const len = (data[o]! << 8) | data[o + 1]!;
    if (o + 2 + len > data.length) fail("truncated entry");
    entries.push(data.slice(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (entries.length === 0) fail("empty");
  if (expectedCount !== undefined && entries.length !== expectedCount) {
    fail(`${entries.length} entries where ${expectedCount} were expected`);
  }
  return entries;
}
