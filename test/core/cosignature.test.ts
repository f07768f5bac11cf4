import { describe, expect, it } from "vitest";
import { concat, fromBase64, toHex, u64be, utf8 } from "../../core/bytes.js";
import { formatCheckpoint, parseCheckpoint } from "../../core/checkpoint.js";
import {
  cosignatureMessage,
  cosignatureSigner,
  cosignatureTimestamp,
  cosignatureVerifier,
} from "../../core/cosignature.js";
import { ed25519 } from "../../core/ed25519.js";
import { isTrustlogError } from "../../core/errors.js";
import {
  formatNote,
  formatSignatureLine,
  noteKeyId,
  openNote,
  parseNote,
  signNote,
} from "../../core/note.js";
import { generateSignerKey, parseSignerKey, parseVerifierKey } from "../../core/note-keys.js";

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (isTrustlogError(e)) return e.code;
    throw e;
  }
  return undefined;
}

const BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const LOG_LINE =
  "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=";

// No published cosignature/v1 example comes with its key, so this vector was built by hand from
// the spec with OpenSSL 3.0 (`openssl pkeyutl -sign -rawin`), independent of this code: seed
// 00 01 … 1f, name witness.example.com/w1, time 1679315147 (the spec example's time), over the
// spec's example checkpoint.
const W_SEED = Uint8Array.from({ length: 32 }, (_, i) => i);
const W_NAME = "witness.example.com/w1";
const W_VKEY = "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
const W_LINE =
  "— witness.example.com/w1 oAWfEQAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsVE8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==";
const W_TIME = 1679315147;

describe("cosignature/v1", () => {
  it("reproduces the OpenSSL-built cosignature byte for byte", () => {
    const s = cosignatureSigner(W_NAME, W_SEED, () => W_TIME);
    expect(toHex(s.keyId)).toBe("a0059f11");
    expect(signNote(BODY, [s])).toBe(`${BODY}\n${W_LINE}\n`);
    const { skey, vkey } = generateSignerKey(W_NAME, W_SEED, 0x04);
    expect(vkey).toBe(W_VKEY);
    expect(signNote(BODY, [parseSignerKey(skey, { clock: () => W_TIME })])).toBe(`${BODY}\n${W_LINE}\n`);
  });

  it("verifies it through a vkey, next to the log's (unknown) signature", () => {
    const w = parseVerifierKey(W_VKEY);
    expect(w.type).toBe(4);
    const note = formatNote(BODY, [LOG_LINE, W_LINE]);
    const opened = openNote(note, [w]);
    expect(opened.verified).toEqual([w]);
    expect(cosignatureTimestamp(opened.signatures[1]!.payload)).toBe(W_TIME);
    expect(parseCheckpoint(opened.body).size).toBe(20852163);
  });

  it("signs the exact message of the spec", () => {
    expect(new TextDecoder().decode(cosignatureMessage(BODY, 7))).toBe(`cosignature/v1\ntime 7\n${BODY}`);
    const s = cosignatureSigner("w", W_SEED, () => 1234);
    const payload = s.sign(utf8(BODY));
    expect(payload.length).toBe(72);
    expect(toHex(payload.subarray(0, 8))).toBe(toHex(u64be(1234)));
    const pub = ed25519().publicKey(W_SEED);
    expect(
      ed25519().verify(payload.subarray(8), concat(utf8("cosignature/v1\ntime 1234\n"), utf8(BODY)), pub),
    ).toBe(true);
  });

  it("reads the timestamp of transparency-dev/formats' test cosignature", () => {
    const blob = fromBase64(
      "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    );
    expect(cosignatureTimestamp(blob.subarray(4))).toBe(1727964367);
    // An Ed25519 note signature (68 bytes) is not a cosignature.
    const plain = fromBase64(
      "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
    );
    expect(code(() => cosignatureTimestamp(plain.subarray(4)))).toBe("COSIGNATURE_MALFORMED");
    expect(code(() => cosignatureTimestamp(concat(Uint8Array.of(0, 0x20), new Uint8Array(70))))).toBe(
      "COSIGNATURE_MALFORMED",
    );
  });

  it("uses a key id distinct from the same key's Ed25519 note key id", () => {
    const pub = ed25519().publicKey(W_SEED);
    expect(toHex(cosignatureVerifier("w", pub).keyId)).toBe(toHex(noteKeyId("w", 4, pub)));
    expect(toHex(noteKeyId("w", 4, pub))).not.toBe(toHex(noteKeyId("w", 1, pub)));
  });

  it("rejects a cosignature whose time, body or extension lines were changed", () => {
    const w = parseVerifierKey(W_VKEY);
    const body = formatCheckpoint({ ...parseCheckpoint(BODY), extensions: ["ext"] });
    const signed = signNote(body, [cosignatureSigner(W_NAME, W_SEED, () => 99)]);
    expect(openNote(signed, [w]).verified).toEqual([w]);
    const sig = parseNote(signed).signatures[0]!;
    const payload = sig.payload.slice();
    payload[7] = 100; // claims a later time
    const v = cosignatureVerifier(W_NAME, w.publicKey);
    expect(v.verify(utf8(body), payload)).toBe(false);
    expect(v.verify(utf8(body.replace("ext", "exu")), sig.payload)).toBe(false);
    expect(v.verify(utf8(BODY), sig.payload)).toBe(false);
    expect(v.verify(utf8(body), sig.payload.subarray(0, 71))).toBe(false);
    const forged = formatSignatureLine(sig.name, sig.keyId, payload);
    expect(code(() => openNote(`${body}\n${forged}\n`, [w]))).toBe("NOTE_SIG_INVALID");
  });

  it("refuses a clock that does not give a POSIX time", () => {
    for (const t of [-1, 1.5, Number.NaN, 2 ** 53]) {
      const s = cosignatureSigner("w", W_SEED, () => t);
      expect(code(() => s.sign(utf8(BODY)))).toBe("BAD_TIMESTAMP");
    }
  });
});
