import { sha256 as nobleReference } from "@noble/hashes/sha2.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromHex, toHex, utf8 } from "../../core/bytes.js";
import { EMPTY_ROOT, leafHash, nodeHash } from "../../core/merkle.js";
import { sha256 } from "../../core/sha256.js";
import { nobleSha256Digest } from "../../core/sha256-noble.js";
import { nativeSha256, nativeSha256ByHashObject } from "../../node/sha256-native.js";

const BACKENDS = [
  { name: "noble", hash: nobleSha256Digest },
  { name: "node:crypto", hash: nativeSha256 },
  { name: "node:crypto Hash object", hash: nativeSha256ByHashObject },
];

// FIPS 180-4 examples (NIST's SHA256.pdf) and the empty string.
const VECTORS = [
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
] as const;

describe("SHA-256 back ends", () => {
  it("under Node, core's sha256 is the native one (the \"#sha256\" import's node condition)", () => {
    expect(sha256).toBe(nativeSha256);
  });

  it("reproduce the FIPS 180-4 examples", () => {
    for (const [msg, want] of VECTORS) {
      for (const b of BACKENDS) expect(toHex(b.hash(utf8(msg))), b.name).toBe(want);
    }
  });

  it("give RFC 6962's empty root and hash leaves and nodes as core/merkle.ts does", () => {
    expect(toHex(EMPTY_ROOT)).toBe(VECTORS[0][1]);
    const leaf = utf8("L123456");
    expect(leafHash(leaf)).toEqual(nobleReference(Uint8Array.of(0, ...leaf)));
    const a = fromHex("aa".repeat(32));
    const b = fromHex("bb".repeat(32));
    expect(nodeHash(a, b)).toEqual(nobleReference(Uint8Array.of(1, ...a, ...b)));
  });

  it("agree with each other on every input (sizes around the 64-byte block included)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1100 }), fc.nat(16), (data, cut) => {
        // A view into a larger buffer too: the native back end must hash only the view's bytes.
        const view = new Uint8Array(data.length + cut + 7).subarray(cut, cut + data.length);
        view.set(data);
        const want = toHex(nobleReference(data));
        for (const b of BACKENDS) {
          expect(toHex(b.hash(data)), b.name).toBe(want);
          expect(toHex(b.hash(view)), b.name).toBe(want);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("answer a fresh plain Uint8Array of 32 bytes, not a Buffer, never shared between calls", () => {
    for (const b of BACKENDS) {
      const x = b.hash(utf8("x"));
      const y = b.hash(utf8("x"));
      expect(Object.getPrototypeOf(x), b.name).toBe(Uint8Array.prototype);
      expect(x.length).toBe(32);
      expect(x.buffer.byteLength, b.name).toBe(32);
      x[0] = x[0]! ^ 0xff;
      expect(y).not.toEqual(x);
      expect(toHex(b.hash(utf8("x")))).toBe(toHex(y));
    }
  });
});
