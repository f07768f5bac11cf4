import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase64, toHex, utf8 } from "../../core/bytes.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  formatNote,
  MAX_NOTE_SIGNATURES,
  NOTE_TYPE_COSIGNATURE_V1,
  type NoteVerifier,
  noteKeyId,
  openNote,
  parseNote,
  signNote,
} from "../../core/note.js";
import {
  ed25519NoteSigner,
  formatVerifierKey,
  generateSignerKey,
  parseSignerKey,
  parseVerifierKey,
} from "../../core/note-keys.js";

// Test vectors from golang.org/x/mod/sumdb/note (note_test.go).
const PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT =
  "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG =
  "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isTrustlogError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe("signed-note keys", () => {
  it("parses Go's PeterNeumann signer key and derives its vkey", () => {
    const s = parseSignerKey(PETER_SKEY);
    expect(s.name).toBe("PeterNeumann");
    expect(toHex(s.keyId)).toBe("c74f20a3");
    expect(s.type).toBe(1);
    expect(s.vkey).toBe(PETER_VKEY);
  });

  it("round-trips generateSignerKey for both key types", () => {
    const seed = new Uint8Array(32).fill(7);
    for (const type of [1, 4]) {
      const { skey, vkey } = generateSignerKey("example.com/log", seed, type);
      const s = parseSignerKey(skey, { clock: () => 1_700_000_000 });
      expect(s.vkey).toBe(vkey);
      expect(s.type).toBe(type);
      const v = parseVerifierKey(vkey);
      expect(v.type).toBe(type);
      expect(toHex(v.keyId)).toBe(toHex(s.keyId));
      const note = signNote("hello\n", [s]);
      expect(openNote(note, [v]).verified).toEqual([v]);
    }
  });

  it("needs a clock for a cosignature (type 0x04) signer key", () => {
    const { skey } = generateSignerKey("w", new Uint8Array(32), NOTE_TYPE_COSIGNATURE_V1);
    expect(code(() => parseSignerKey(skey))).toBe("BAD_KEY");
  });

  it("accepts published vkeys, including ones whose base64 contains '+'", () => {
    for (const k of [
      "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
      "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6",
      "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
      ENOCH_VKEY,
    ]) {
      expect(parseVerifierKey(k).type).toBe(1);
    }
    // A native cosignature/v1 vkey from transparency-dev/formats' tests.
    expect(
      parseVerifierKey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2").type,
    ).toBe(4);
  });

  it("refuses every mangling of a vkey, as x/mod's TestNewVerifier does", () => {
    const b = utf8(PETER_VKEY);
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        expect(code(() => parseVerifierKey(PETER_VKEY.slice(i, j)))).toBe("BAD_KEY");
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const c = String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1);
      const k = PETER_VKEY.slice(0, i) + c + PETER_VKEY.slice(i + 1);
      expect(code(() => parseVerifierKey(k))).toBe("BAD_KEY");
    }
    // Wrong key length and unknown algorithm, each with an adjusted key id.
    expect(
      code(() =>
        parseVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="),
      ),
    ).toBe("BAD_KEY");
    expect(
      code(() => parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")),
    ).toBe("BAD_KEY");
  });

  it("refuses every mangling of a signer key, as x/mod's TestNewSigner does", () => {
    for (let i = 0; i <= PETER_SKEY.length; i++) {
      for (let j = i + 1; j <= PETER_SKEY.length; j++) {
        if (i === 0 && j === PETER_SKEY.length) continue;
        expect(code(() => parseSignerKey(PETER_SKEY.slice(i, j)))).toBe("BAD_KEY");
      }
    }
    for (let i = 0; i < PETER_SKEY.length; i++) {
      const c = String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1);
      expect(code(() => parseSignerKey(PETER_SKEY.slice(0, i) + c + PETER_SKEY.slice(i + 1)))).toBe(
        "BAD_KEY",
      );
    }
  });

  it("refuses names with spaces, '+', or nothing, and small-order public keys", () => {
    const pub = parseVerifierKey(PETER_VKEY).publicKey;
    for (const name of ["", "a b", "a+b", "a\u00a0b", "a\u3000b", "a\tb"]) {
      expect(code(() => formatVerifierKey(name, 1, pub))).toBe("BAD_KEY");
    }
    const identity = new Uint8Array(32);
    identity[0] = 1;
    const id = toHex(noteKeyId("weak", 1, identity));
    expect(code(() => parseVerifierKey(`weak+${id}+AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`))).toBe(
      "BAD_KEY",
    );
  });
});

describe("signing and opening notes", () => {
  const peter = parseVerifierKey(PETER_VKEY);
  const enoch = parseVerifierKey(ENOCH_VKEY);

  it("signs Go's test note byte for byte", () => {
    expect(signNote(TEXT, [parseSignerKey(PETER_SKEY)])).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it("opens the C2SP signed-note example", () => {
    const vkey = parseVerifierKey("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
    const note =
      "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    const opened = openNote(note, [vkey]);
    expect(opened.body).toBe("This is an example message.\n");
    expect(opened.verified).toEqual([vkey]);
  });

  it("verifies a known key and keeps an unknown key's line, in order", () => {
    const n = openNote(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter]);
    expect(n.body).toBe(TEXT);
    expect(n.verified).toEqual([peter]);
    expect(n.signatures.map((s) => s.name)).toEqual(["PeterNeumann", "EnochRoot"]);
    expect(n.signatures[1]!.line).toBe(ENOCH_SIG.slice(0, -1));
    expect(toHex(n.signatures[1]!.keyId)).toBe("af0cfe78");
  });

  it("verifies both known keys", () => {
    const n = openNote(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch]);
    expect(n.verified).toEqual([peter, enoch]);
  });

  it("refuses a note no known key signed", () => {
    expect(code(() => openNote(TEXT + "\n" + PETER_SIG + ENOCH_SIG, []))).toBe("NOTE_UNVERIFIED");
    expect(code(() => openNote(TEXT + "\n" + ENOCH_SIG, [peter]))).toBe("NOTE_UNVERIFIED");
  });

  it("refuses a note whose known key's signature is bad", () => {
    const bad = `${TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(code(() => openNote(bad, [peter]))).toBe("NOTE_SIG_INVALID");
    // Same signature over a changed body.
    expect(code(() => openNote(`${TEXT}x\n\n${PETER_SIG}`, [peter]))).toBe("NOTE_SIG_INVALID");
    // A second, bad line from the same key also fails the note.
    expect(code(() => openNote(`${TEXT}\n${PETER_SIG}${bad.slice(TEXT.length + 1)}`, [peter]))).toBe(
      "NOTE_SIG_INVALID",
    );
  });

  it("matches verifiers by name and key id, never by name alone", () => {
    const renamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego");
    expect(code(() => openNote(`${TEXT}\n${renamed}`, [peter]))).toBe("NOTE_UNVERIFIED");
    const otherId = PETER_SIG.replace("x08g", "xxxx");
    expect(code(() => openNote(`${TEXT}\n${otherId}`, [peter]))).toBe("NOTE_UNVERIFIED");
  });

  it("refuses ambiguous verifiers only when a line uses them", () => {
    expect(code(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch]))).toBe("NOTE_AMBIGUOUS_KEY");
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]).verified).toEqual([peter]);
  });

  it(`caps signature lines at ${MAX_NOTE_SIGNATURES}`, () => {
    expect(openNote(TEXT + "\n" + PETER_SIG.repeat(MAX_NOTE_SIGNATURES), [peter]).verified).toEqual([peter]);
    expect(code(() => parseNote(TEXT + "\n" + PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1)))).toBe(
      "NOTE_MALFORMED",
    );
  });

  it("adds a cosignature line to a parsed note with formatNote", () => {
    const seed = new Uint8Array(32).fill(9);
    const w = parseSignerKey(generateSignerKey("w1", seed, 4).skey, { clock: () => 1 });
    const parsed = parseNote(TEXT + "\n" + PETER_SIG);
    const line = signNote(parsed.body, [w]).split("\n\n")[1]!.slice(0, -1);
    const both = formatNote(parsed.body, [...parsed.signatures.map((s) => s.line), line]);
    const wv = parseVerifierKey(w.vkey);
    expect(openNote(both, [peter, wv]).verified).toEqual([peter, wv]);
  });

  it("refuses bodies it could not sign", () => {
    const s = ed25519NoteSigner("n", new Uint8Array(32));
    for (const body of ["", "abc", "a\n\nb\n", "\n", "a\rb\n", "a\tb\n"]) {
      expect(code(() => signNote(body, [s]))).toBe("NOTE_MALFORMED");
    }
  });
});

describe("malformed notes", () => {
  const peter = parseVerifierKey(PETER_VKEY);
  const cases: Record<string, string | Uint8Array> = {
    "no signatures": TEXT,
    "blank line and nothing": `${TEXT}\n`,
    "missing final newline": `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
    "control character": `\x01${TEXT}\n${PETER_SIG}`,
    "carriage return": `${TEXT.replace("\n", "\r\n")}\n${PETER_SIG}`,
    "invalid UTF-8": Uint8Array.of(0xff, ...utf8(`${TEXT}\n${PETER_SIG}`)),
    "lone surrogate": `\ud800${TEXT}\n${PETER_SIG}`,
    "name with a space": `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
    "unexpected line": `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
    "hyphen for em dash": `${TEXT}\n${PETER_SIG.replace("—", "-")}`,
    "no space after dash": `${TEXT}\n${PETER_SIG.replace("— ", "—")}`,
    "two spaces": `${TEXT}\n${PETER_SIG.replace("PeterNeumann ", "PeterNeumann  ")}`,
    "empty base64": `${TEXT}\n— PeterNeumann \n`,
    "unpadded base64": `${TEXT}\n${PETER_SIG.replace("=\n", "\n")}`,
    "non-canonical base64": `${TEXT}\n${PETER_SIG.replace("AM=\n", "AN=\n")}`,
    "payload under 5 bytes": `${TEXT}\n— PeterNeumann x08gow==\n`,
    "empty body": `\n${PETER_SIG}`,
    "empty body line": `a\n\nb\n\n${PETER_SIG}`,
    "empty signature line": `${TEXT}\n${PETER_SIG}\n${PETER_SIG}`,
    "too large": `${"a".repeat(1 << 20)}\n\n${PETER_SIG}`,
  };
  for (const [what, note] of Object.entries(cases)) {
    it(`refuses a note with ${what}`, () => {
      expect(code(() => parseNote(note))).toBe("NOTE_MALFORMED");
      expect(code(() => openNote(note, [peter]))).toBe("NOTE_MALFORMED");
    });
  }

  it("decodes a byte note and splits at the last blank line", () => {
    expect(parseNote(utf8(`${TEXT}\n${PETER_SIG}`)).body).toBe(TEXT);
    expect(fromBase64(parseNote(`${TEXT}\n${PETER_SIG}`).signatures[0]!.line.split(" ")[2]!).length).toBe(68);
  });

  it("throws nothing but TrustlogError on random mutations of a signed note", () => {
    const good = utf8(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`);
    const verifiers: NoteVerifier[] = [peter];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("set", "del", "ins")), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          let b = Array.from(good);
          for (const [pos, val, op] of edits) {
            const i = pos % (b.length + 1);
            if (op === "set" && i < b.length) b[i] = val;
            else if (op === "del") b.splice(i, 1);
            else b.splice(i, 0, val);
          }
          const bytes = Uint8Array.from(b);
          try {
            const n = openNote(bytes, verifiers);
            // Anything accepted must carry Peter's valid signature over the exact text.
            expect(n.body).toBe(TEXT);
          } catch (e) {
            if (!isTrustlogError(e)) throw e;
          }
          b = [];
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("throws nothing but TrustlogError on random strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 300 }), (s) => {
        try {
          parseNote(s);
          parseNote(`${s}\n\n${PETER_SIG}`);
        } catch (e) {
          if (!isTrustlogError(e)) throw e;
        }
      }),
    );
  });
});
