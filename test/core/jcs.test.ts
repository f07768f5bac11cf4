import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../../core/bytes.js";
import { canonicalBytes, canonicalize } from "../../core/jcs.js";

describe("RFC 8785 canonical JSON", () => {
  it("serialises the RFC 8785 §3.2.2 example exactly", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    expect(canonicalize(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it("sorts keys by UTF-16 code units as in RFC 8785 §3.2.3", () => {
    const input = {
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis",
    };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it("encodes the RFC 8785 §3.2.4 UTF-8 example to the listed bytes", () => {
    expect(toHex(canonicalBytes({ peach: "This sentence has a peach: \ud83c\udf51" }))).toMatch(
      /f09f8d91227d$/,
    );
    expect(toHex(canonicalBytes("\u20ac"))).toBe("22e282ac22");
  });

  it("writes numbers as ECMAScript does (RFC 8785 Appendix B samples)", () => {
    const cases: [number, string][] = [
      [0, "0"],
      [-0, "0"],
      [5e-324, "5e-324"],
      [-5e-324, "-5e-324"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
      [9007199254740992, "9007199254740992"],
      [-9007199254740992, "-9007199254740992"],
      [295147905179352830000, "295147905179352830000"],
      [9.999999999999997e22, "9.999999999999997e+22"],
      [1e23, "1e+23"],
      [1e21, "1e+21"],
      [999999999999999700000, "999999999999999700000"],
      [0.000001, "0.000001"],
      [1e-7, "1e-7"],
      [333333333.3333333, "333333333.3333333"],
    ];
    for (const [n, s] of cases) expect(canonicalize(n)).toBe(s);
  });

  it("escapes only what RFC 8785 requires, controls in lowercase hex", () => {
    expect(canonicalize('\b\f\n\r\t"\\')).toBe('"\\b\\f\\n\\r\\t\\"\\\\"');
    expect(canonicalize("\u0000\u001f\u007f/é")).toBe('"\\u0000\\u001f\u007f/é"');
  });

  it("refuses what has no canonical form", () => {
    for (const v of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      -Infinity,
      undefined,
      1n,
      () => 1,
      { a: undefined },
    ]) {
      expect(() => canonicalize(v)).toThrow(expect.objectContaining({ code: "MALFORMED" }));
    }
    expect(() => canonicalize("\ud800")).toThrow(expect.objectContaining({ code: "MALFORMED" }));
    expect(() => canonicalize({ "\udc00x": 1 })).toThrow(expect.objectContaining({ code: "MALFORMED" }));
    expect(() => canonicalize("a\ud83d")).toThrow(expect.objectContaining({ code: "MALFORMED" }));
    expect(() => canonicalize(new Date(0))).toThrow(expect.objectContaining({ code: "MALFORMED" }));
  });

  it("agrees with JSON.stringify of a re-sorted value, and is idempotent (property)", () => {
    const sortDeep = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(sortDeep);
      if (v && typeof v === "object") {
        // A null prototype, so that a "__proto__" member stays a member.
        const out: Record<string, unknown> = Object.create(null);
        for (const k of Object.keys(v).sort()) out[k] = sortDeep((v as Record<string, unknown>)[k]);
        return out;
      }
      return v;
    };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalize(v);
        expect(canonicalize(JSON.parse(c))).toBe(c);
        // Integer-like keys are the one place JSON.stringify's own key order differs.
        const hasIntKeys = /"\d+":/.test(c);
        if (!hasIntKeys) expect(c).toBe(JSON.stringify(sortDeep(v)));
      }),
    );
  });
  it("orders the members of objects of any size by UTF-16 code units (property)", () => {
    // Keys from a small alphabet collide in prefixes; astral characters sort by their surrogates.
    const key = fc.array(fc.constantFrom("a", "b", "B", "é", "\u{1F600}", "\uFFFF", "-", " "), {
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.dictionary(
          key.map((cs) => cs.join("")),
          fc.integer(),
          { maxKeys: 40 },
        ),
        (o) => {
          const sorted = Object.keys(o).sort();
          expect(Object.keys(JSON.parse(canonicalize(o)))).toEqual(sorted);
          expect(canonicalize(o)).toBe(`{${sorted.map((k) => `${JSON.stringify(k)}:${o[k]}`).join(",")}}`);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
