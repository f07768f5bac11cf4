import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { base64Length, fromBase64, fromHex, toBase64, toHex } from "../../core/bytes.js";
import { TrustlogError } from "../../core/errors.js";
import { parseEventTime } from "../../core/event.js";
import { formatEventTime } from "../../core/event-build.js";

/** Strict base64 by another route: the alphabet, then a re-encoding by Node's Buffer. */
function strictReference(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(|=|==)$/.test(text)) return undefined;
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? new Uint8Array(bytes) : undefined;
}

/** What a call throws (its code and message), or its value. */
function outcome<T>(f: () => T): { value: T } | { code: string; message: string } {
  try {
    return { value: f() };
  } catch (e) {
    if (!(e instanceof TrustlogError)) throw e;
    return { code: e.code, message: e.message };
  }
}

// Base64 texts near the valid ones: digits, padding in and out of place, foreign characters.
const nearBase64 = fc
  .array(fc.constantFrom(..."ABCDQRgw+/09az=", "-", "_", " ", "é"), { maxLength: 24 })
  .map((cs) => cs.join(""));

describe("strict base64", () => {
  it("round-trips every byte string, as Node's Buffer encodes it", () => {
    // Sizes past the encoders' shared 4 KiB buffer and past its 1 MiB cap, then small ones
    // again: what a large input leaves behind must not leak into the next answer.
    for (const n of [3071, 3072, 3073, 8000, (1 << 20) + 5, 2, 1, 0]) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 7 + n) & 255);
      expect(toBase64(bytes)).toBe(Buffer.from(bytes).toString("base64"));
      expect(toHex(bytes)).toBe(Buffer.from(bytes).toString("hex"));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(toHex(bytes)).toBe(Buffer.from(bytes).toString("hex"));
        expect(fromHex(toHex(bytes))).toEqual(bytes);
        const text = toBase64(bytes);
        expect(text).toBe(Buffer.from(bytes).toString("base64"));
        expect(fromBase64(text)).toEqual(bytes);
        expect(base64Length(text)).toBe(bytes.length);
      }),
      { numRuns: 500 },
    );
  });

  it("accepts exactly the canonical texts, and base64Length agrees with fromBase64 on each", () => {
    const check = (text: string) => {
      const want = strictReference(text);
      const got = outcome(() => fromBase64(text));
      if (want === undefined) expect(got, text).toHaveProperty("code", "BAD_BASE64");
      else expect(got, text).toEqual({ value: want });
      // Same verdict, same message: the event parser reports base64Length's.
      const length = outcome(() => base64Length(text));
      expect(length, text).toEqual("value" in got ? { value: got.value.length } : got);
    };
    fc.assert(
      fc.property(nearBase64, (t) => {
        check(t);
      }),
      { numRuns: 3000 },
    );
    for (const t of ["", "AA==", "AB==", "AAA=", "AAB=", "====", "A===", "AAAA====", "QUJD", "QUJD\n"])
      check(t);
  });

  it("names the first bad character", () => {
    expect(() => fromBase64("AA-A")).toThrow("invalid base64 character at 2");
    expect(() => base64Length("AAAA=AAA")).toThrow("invalid base64 character at 4");
    expect(() => fromBase64("AAA")).toThrow("base64 length is not a multiple of 4");
  });
});

// The parser as it was written first (a match array per call): the reference for the rewrite.
const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
function referenceEventTime(s: string): number | undefined {
  const m = TIME.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return undefined;
  // setUTCFullYear, not Date.UTC, which reads the years 0-99 as 1900-1999.
  const back = new Date(0);
  back.setUTCFullYear(y, mo - 1, d);
  back.setUTCHours(h, mi, se, 0);
  const ms = back.getTime();
  // Date.UTC rolls an impossible day over into the next month; a real date comes back as given.
  if (back.getUTCDate() !== d || back.getUTCMonth() !== mo - 1) return undefined;
  return ms / 1000;
}

describe("event times", () => {
  it("parse as the regex-and-Date reference does, on times near the valid ones", () => {
    const two = (lo: number, hi: number) =>
      fc.integer({ min: lo, max: hi }).map((n) => String(n).padStart(2, "0"));
    const near = fc
      .tuple(fc.integer({ min: 1000, max: 9999 }), two(0, 13), two(0, 32), two(0, 24), two(0, 60), two(0, 60))
      .map(([y, mo, d, h, mi, s]) => `${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
    const mutated = fc
      .tuple(near, fc.nat(20), fc.constantFrom("0", "9", "-", ":", "T", "Z", " ", "a", "٣", ""))
      .map(([t, at, c]) => t.slice(0, at) + c + t.slice(at + 1));
    fc.assert(
      fc.property(fc.oneof(near, mutated), (t) => {
        expect(parseEventTime(t), t).toBe(referenceEventTime(t));
      }),
      { numRuns: 5000 },
    );
  });

  it("round-trip every second from 1970 to 9999", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253402300799 }), (t) => {
        expect(parseEventTime(formatEventTime(t))).toBe(t);
      }),
      { numRuns: 2000 },
    );
  });
});
