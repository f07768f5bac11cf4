import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../core/bytes.js";
import { type Checkpoint, formatCheckpoint, parseCheckpoint } from "../../core/checkpoint.js";
import { isTrustlogError } from "../../core/errors.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isTrustlogError(e)) return e.code;
    throw e;
  }
  return undefined;
}

const SPEC = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

describe("tlog-checkpoint", () => {
  it("parses the C2SP example and formats it back", () => {
    const c = parseCheckpoint(SPEC);
    expect(c.origin).toBe("example.com/behind-the-sofa");
    expect(c.size).toBe(20852163);
    expect(toBase64(c.root)).toBe("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(SPEC);
  });

  it("opens real sum.golang.org checkpoints, whose key name differs from the origin", () => {
    const sumdb = parseVerifierKey("sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8");
    const notes: [string, number][] = [
      [
        "go.sum database tree\n31700353\nqINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=\n\n— sum.golang.org Az3grnmrIUEDFqHzAElIQCPNoRFRAAdFo47fooyWKMHb89k11GJh5zHIfNCOBmwn/C3YI8oW9/C8DJ87F61QqspBYwM=\n",
        31700353,
      ],
      [
        "go.sum database tree\n65209736\n5+uGFjx6xBZG8ip1+wi77v+grwbhhukIrxEUS8PXvRo=\n\n— sum.golang.org Az3grnbssgK7ubgFX36gVETtNv0U23qxyAhAMai2QUfeGa3nB/akvkMdlUErfcZz7l/R3cVtYspg3dxXABkGZZKdsQ8=\n",
        65209736,
      ],
    ];
    for (const [note, size] of notes) {
      const c = parseCheckpoint(openNote(note, [sumdb]).body);
      expect(c.origin).toBe("go.sum database tree");
      expect(c.size).toBe(size);
    }
  });

  it("parses the empty tree and extension lines", () => {
    const empty = "log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
    expect(parseCheckpoint(empty).size).toBe(0);
    const ext = `${SPEC}ext one\nother\n`;
    expect(parseCheckpoint(ext).extensions).toEqual(["ext one", "other"]);
    expect(formatCheckpoint(parseCheckpoint(ext))).toBe(ext);
  });

  const bad: Record<string, string> = {
    "no final newline": SPEC.slice(0, -1),
    "two lines": "example.com/log\n5\n",
    "empty origin": SPEC.replace("example.com/behind-the-sofa", ""),
    "leading zero": SPEC.replace("20852163", "020852163"),
    "plus sign": SPEC.replace("20852163", "+20852163"),
    "negative size": SPEC.replace("20852163", "-1"),
    "space in size": SPEC.replace("20852163", "20852163 "),
    "huge size": SPEC.replace("20852163", "99999999999999999999"),
    "hex size": SPEC.replace("20852163", "0x10"),
    "31-byte root": SPEC.replace(
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
      toBase64(new Uint8Array(31)),
    ),
    "33-byte root": SPEC.replace(
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
      toBase64(new Uint8Array(33)),
    ),
    "unpadded root": SPEC.replace("2I=", "2I"),
    "non-canonical root": SPEC.replace("2I=", "2J="),
    "url-safe root": SPEC.replace("om/X", "om_X"),
    "empty extension line": `${SPEC}\n`,
    "empty line then extension": `${SPEC}\next\n`,
    "carriage return": SPEC.replace("\n", "\r\n"),
    "tab in origin": `a\t${SPEC}`,
    "too large": `${"a".repeat(1 << 20)}\n1\n${toBase64(new Uint8Array(32))}\n`,
  };
  for (const [what, body] of Object.entries(bad)) {
    it(`refuses a checkpoint with ${what}`, () => {
      expect(code(() => parseCheckpoint(body))).toBe("CHECKPOINT_MALFORMED");
    });
  }

  it("refuses to format what it could not parse back", () => {
    const root = new Uint8Array(32);
    const cases: Checkpoint[] = [
      { origin: "", size: 1, root, extensions: [] },
      { origin: "a\nb", size: 1, root, extensions: [] },
      { origin: "a", size: -1, root, extensions: [] },
      { origin: "a", size: 1.5, root, extensions: [] },
      { origin: "a", size: 1, root: new Uint8Array(31), extensions: [] },
      { origin: "a", size: 1, root, extensions: [""] },
      { origin: "a", size: 1, root, extensions: ["x\ny"] },
    ];
    for (const c of cases) expect(code(() => formatCheckpoint(c))).toBe("CHECKPOINT_MALFORMED");
  });

  it("round-trips any valid checkpoint, and parses only canonical text", () => {
    const line = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\x00-\x1f]/.test(s));
    fc.assert(
      fc.property(
        line,
        fc.nat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(line, { maxLength: 3 }),
        (origin, size, root, extensions) => {
          const text = formatCheckpoint({ origin, size, root, extensions });
          const c = parseCheckpoint(text);
          expect(c).toEqual({ origin, size, root, extensions });
        },
      ),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        try {
          expect(formatCheckpoint(parseCheckpoint(s))).toBe(s);
        } catch (e) {
          if (!isTrustlogError(e, "CHECKPOINT_MALFORMED")) throw e;
        }
      }),
    );
  });
});
