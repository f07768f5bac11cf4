// The C2SP tlog-witness wire format (core/witness-protocol.ts), as both the log and the witness
// write and read it. The HTTP answers built from it are tested in test/witness/add-checkpoint.test.ts.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  formatAddCheckpoint,
  formatCosignatureResponse,
  formatSizeResponse,
  MAX_PROOF_LINES,
  parseAddCheckpoint,
  parseCosignatureResponse,
  parseSizeResponse,
} from "../../core/witness-protocol.js";

// The example of the spec (c2sp.org/tlog-witness), proof shortened to two lines.
const NOTE =
  "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" +
  "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
const P1 = "PlRNDSHJ/PQvp8T3TdcmFCGlHw+MM6tvyF7Q7U0YRxc=";
const P2 = "mPHIv6Rj0MfOgXMfjkEd0kvl2bTrzJGzInTfU+qIK3s=";
const SPEC_BODY = `old 8\n${P1}\n${P2}\n\n${NOTE}`;

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (e) {
    return isTrustlogError(e) ? e.code : `not a TrustlogError: ${e}`;
  }
  return undefined;
};

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("add-checkpoint request body", () => {
  it("reads and writes the spec's example byte for byte", () => {
    const req = parseAddCheckpoint(SPEC_BODY);
    expect(req.oldSize).toBe(8);
    expect(req.proof.map(toBase64)).toEqual([P1, P2]);
    expect(req.note).toBe(NOTE);
    expect(formatAddCheckpoint(req.oldSize, req.proof, req.note)).toBe(SPEC_BODY);
    expect(parseAddCheckpoint(new TextEncoder().encode(SPEC_BODY))).toEqual(req);
  });

  it("writes `old 0`, no proof lines and the empty line for a first submission", () => {
    expect(formatAddCheckpoint(0, [], NOTE)).toBe(`old 0\n\n${NOTE}`);
    expect(parseAddCheckpoint(`old 0\n\n${NOTE}`)).toEqual({ oldSize: 0, proof: [], note: NOTE });
  });

  it("round-trips any size and proof of up to 63 hashes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.array(hash, { maxLength: MAX_PROOF_LINES }),
        (oldSize, proof) => {
          const req = parseAddCheckpoint(formatAddCheckpoint(oldSize, proof, NOTE));
          expect(req).toEqual({ oldSize, proof, note: NOTE });
        },
      ),
    );
  });

  it("accepts 63 proof lines and refuses 64", () => {
    const line = `${toBase64(new Uint8Array(32))}\n`;
    expect(parseAddCheckpoint(`old 1\n${line.repeat(63)}\n${NOTE}`).proof).toHaveLength(63);
    expect(code(() => parseAddCheckpoint(`old 1\n${line.repeat(64)}\n${NOTE}`))).toBe("BAD_REQUEST");
  });

  it("refuses malformed bodies with BAD_REQUEST", () => {
    const cases: (string | Uint8Array)[] = [
      `old 0\n${NOTE}`.replace("\n\n", "\n"), // no empty line at all
      `old 00\n\n${NOTE}`,
      `old -1\n\n${NOTE}`,
      `old +1\n\n${NOTE}`,
      `old  1\n\n${NOTE}`,
      `old 1 \n\n${NOTE}`,
      `old 9007199254740992\n\n${NOTE}`,
      `new 0\n\n${NOTE}`,
      `Old 0\n\n${NOTE}`,
      `old 0\nnot base64!\n\n${NOTE}`,
      `old 0\n${P1.replace("=", "")}\n\n${NOTE}`,
      `old 0\n${toBase64(new Uint8Array(31))}\n\n${NOTE}`,
      `old 0\n${toBase64(new Uint8Array(33))}\n\n${NOTE}`,
      Uint8Array.of(0x6f, 0x6c, 0x64, 0x20, 0x30, 0x0a, 0x0a, 0xff, 0xfe),
    ];
    for (const body of cases) {
      expect(
        code(() => parseAddCheckpoint(body)),
        JSON.stringify(String(body).slice(0, 40)),
      ).toBe("BAD_REQUEST");
    }
  });

  it("never throws anything but BAD_REQUEST on arbitrary input", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 200 })), (body) => {
        const c = code(() => parseAddCheckpoint(body));
        expect(c === undefined || c === "BAD_REQUEST").toBe(true);
      }),
    );
  });
});

describe("witness answers", () => {
  it("writes cosignature lines each ending in a newline and reads them back", () => {
    const lines = ["— w1 AAAA", "— w2 BBBB"];
    expect(formatCosignatureResponse(lines)).toBe("— w1 AAAA\n— w2 BBBB\n");
    expect(parseCosignatureResponse("— w1 AAAA\n— w2 BBBB\n")).toEqual(lines);
  });

  it("refuses an answer that is empty, lacks its last newline or holds an empty line", () => {
    for (const text of ["", "— w1 AAAA", "— w1 AAAA\n\n", "\n", "— w1 AAAA\n\n— w2 BBBB\n"]) {
      expect(
        code(() => parseCosignatureResponse(text)),
        JSON.stringify(text),
      ).toBe("BAD_RESPONSE");
    }
  });

  it("writes the size answer as `<size>\\n` and reads it back", () => {
    expect(formatSizeResponse(20852014)).toBe("20852014\n");
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(parseSizeResponse(formatSizeResponse(n))).toBe(n);
      }),
    );
    for (const text of ["", "\n", "-1\n", "1.5\n", "0x10\n", "12 13\n", "9007199254740992\n"]) {
      expect(
        code(() => parseSizeResponse(text)),
        JSON.stringify(text),
      ).toBe("BAD_RESPONSE");
    }
  });
});
