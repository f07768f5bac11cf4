// `trustlog witness keygen` writes a cosignature/v1 key the witness can serve with, and prints
// the vkey a log operator pins; it never overwrites an existing key.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../../core/note.js";
import { parseSignerKey, parseVerifierKey } from "../../core/note-keys.js";
import { tempDir } from "./helpers.js";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "../..");
const trustlog = (...args: string[]) =>
  run(process.execPath, ["--import", "tsx", "bin/trustlog.ts", ...args], { cwd: root });

describe("trustlog witness keygen", () => {
  it("writes a type 0x04 key and prints its vkey; refuses to overwrite", async () => {
    const out = join(tempDir(), "w.key");
    const { stdout } = await trustlog("witness", "keygen", "--name", "witness.example", "--out", out);
    const vkey = stdout.trim();
    const v = parseVerifierKey(vkey);
    expect(v.type).toBe(NOTE_TYPE_COSIGNATURE_V1);
    const skey = readFileSync(out, "utf8").trim();
    expect(skey).toMatch(/^PRIVATE\+KEY\+witness\.example\+/);
    const k = parseSignerKey(skey, { clock: () => 0 });
    expect(k.type).toBe(NOTE_TYPE_COSIGNATURE_V1);
    expect(k.vkey).toBe(vkey);
    await expect(trustlog("witness", "keygen", "--name", "x", "--out", out)).rejects.toThrow();
    expect(readFileSync(out, "utf8").trim()).toBe(skey);
    const printed = await trustlog("witness", "vkey", "--key-file", out);
    expect(printed.stdout.trim()).toBe(vkey);
  });
});
