// The log's note signing key on disk: one line in the Go `PRIVATE+KEY+<name>+<id>+<base64>`
// format (golang.org/x/mod/sumdb/note), so keys move freely between trustlog and Go tools.
// Files are created with mode 0600 and never overwritten: losing a log key is losing the log.

import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { TrustlogError } from "../core/errors.js";
import { generateSignerKey, type ParsedSignerKey, parseSignerKey } from "../core/note-keys.js";

export interface LogKey {
  signer: ParsedSignerKey;
  vkey: string;
  /** True when this call generated the key (the caller prints the vkey for operators). */
  created: boolean;
  /** True when the file is readable by group or others (the caller warns). */
  looseMode: boolean;
}

/** Writes a new signing key named `name` to `file` (mode 0600; refuses to overwrite). */
export function writeNewSignerKey(file: string, name: string): { skey: string; vkey: string } {
  const { skey, vkey } = generateSignerKey(name, new Uint8Array(randomBytes(32)));
  mkdirSync(dirname(file), { recursive: true });
  try {
    writeFileSync(file, `${skey}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new TrustlogError("KEY_FILE_EXISTS", `${file} already exists; refusing to overwrite a key`);
    }
    throw err;
  }
  // The umask may have cleared bits but never adds any; chmod pins 0600 whatever it was.
  chmodSync(file, 0o600);
  return { skey, vkey };
}

/** Reads a signing key file (the first non-empty line). Throws BAD_KEY. */
export function readSignerKey(file: string): ParsedSignerKey {
  const line = readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  if (!line) throw new TrustlogError("BAD_KEY", `${file} holds no key`);
  return parseSignerKey(line);
}

/**
 * The log key: read from `file`, or generated there when the file does not exist yet; with no
 * file at all (an in-memory test server) a fresh key that lives as long as the process.
 */
export function loadOrCreateLogKey(file: string | undefined, name: string): LogKey {
  if (file === undefined) {
    const { skey } = generateSignerKey(name, new Uint8Array(randomBytes(32)));
    const signer = parseSignerKey(skey);
    return { signer, vkey: signer.vkey, created: true, looseMode: false };
  }
  let created = false;
  if (!existsSync(file)) {
    writeNewSignerKey(file, name);
    created = true;
  }
  const signer = readSignerKey(file);
  const looseMode = process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0;
  return { signer, vkey: signer.vkey, created, looseMode };
}
