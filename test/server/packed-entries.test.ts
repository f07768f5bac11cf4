// The packed entries behind the start-up build of the index of chain heads
// (server/storage/chain-index.ts): whatever was pushed comes out once, in trie key order, with
// its own value, across the buffers' growth and keys that share their first bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../core/bytes.js";
import { compareTrieKeys, Trie } from "../../core/mpt.js";
import { PackedEntries } from "../../server/storage/chain-index.js";

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
// Keys sharing their first four bytes, so that the order is decided past the numeric prefix.
const sharedPrefixKey = fc
  .tuple(fc.constantFrom(0, 1, 0xffffffff), fc.uint8Array({ minLength: 28, maxLength: 28 }))
  .map(([p, rest]) => {
    const k = new Uint8Array(32);
    new DataView(k.buffer).setUint32(0, p);
    k.set(rest, 4);
    return k;
  });

describe("PackedEntries", () => {
  it("yields every entry once, in trie key order, with its value", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.oneof(key, sharedPrefixKey), fc.uint8Array({ maxLength: 80 })), {
          selector: ([k]) => toHex(k),
          maxLength: 300,
        }),
        (entries) => {
          const packed = new PackedEntries();
          for (const [k, v] of entries) packed.push(k, v);
          const want = [...entries].sort((a, b) => compareTrieKeys(a[0], b[0]));
          const got = [...packed.sorted()];
          expect(got.map(([k, v]) => [toHex(k), toHex(v)])).toEqual(
            want.map(([k, v]) => [toHex(k), toHex(v)]),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("grows past its first buffers and builds the same trie as unpacked entries", () => {
    const entries: [Uint8Array, Uint8Array][] = [];
    let x = 7;
    const byte = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x >>> 24;
    };
    // 5,000 entries of 48-byte values: past 1,024 ends, 32 KiB of keys and 64 KiB of values.
    for (let i = 0; i < 5000; i++) {
      entries.push([Uint8Array.from({ length: 32 }, byte), Uint8Array.from({ length: 48 }, byte)]);
    }
    const packed = new PackedEntries();
    for (const [k, v] of entries) packed.push(k, v);
    expect(packed.count).toBe(5000);
    const sorted = [...entries].sort((a, b) => compareTrieKeys(a[0], b[0]));
    expect(toHex(Trie.fromSorted(packed.sorted()).root())).toBe(toHex(Trie.fromSorted(sorted).root()));
  });

  it("refuses a key that is not 32 bytes", () => {
    expect(() => new PackedEntries().push(new Uint8Array(31), new Uint8Array(1))).toThrow(/32 bytes/);
  });
});
