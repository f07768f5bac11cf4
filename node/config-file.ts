// Configuration as the long-running processes take it (the witness, the SCIM bridge): a JSON
// file, whose relative paths are relative to the file, then environment variables, then the
// command line's flags that are set, each layer overriding the one before; the result is then
// validated by the process's own schema.

import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { TrustlogError } from "../core/errors.js";

export function layeredConfig(opts: {
  file: string | undefined;
  /** Fields of the file that hold paths (made absolute against the file's folder). */
  pathFields: readonly string[];
  env: Record<string, string | undefined>;
  /** Environment variable → field; empty values are ignored. */
  envFields: Readonly<Record<string, string>>;
  flags: Record<string, unknown>;
}): Record<string, unknown> {
  let raw: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (e) {
      throw new TrustlogError("CONFIG_INVALID", `cannot read ${opts.file}: ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new TrustlogError("CONFIG_INVALID", `${opts.file} is not JSON: ${(e as Error).message}`);
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      throw new TrustlogError("CONFIG_INVALID", `${opts.file} must hold a JSON object`);
    }
    const base = dirname(resolve(opts.file));
    for (const k of opts.pathFields) {
      if (typeof raw[k] === "string") raw[k] = resolve(base, raw[k] as string);
    }
  }
  for (const [name, key] of Object.entries(opts.envFields)) {
    const v = opts.env[name];
    if (v !== undefined && v !== "") raw[key] = v;
  }
  for (const [k, v] of Object.entries(opts.flags)) if (v !== undefined) raw[k] = v;
  return raw;
}
