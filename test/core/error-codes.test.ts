// The error-code registry (core/error-codes.ts): every registered code is given somewhere and
// every code the server's API documentation lists is answered with the status it says.
// (That every code given is registered is the compiler's job: TrustlogError takes only
// ErrorCode.)

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, errorKind, isErrorCode, knownCode } from "../../core/error-codes.js";
import { TrustlogError } from "../../core/errors.js";
import { statusOf } from "../../server/http-errors.js";

const root = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const p = join(dir, name);
    if (statSync(join(root, p)).isDirectory()) out.push(...sources(p));
    else if (name.endsWith(".ts") && p !== join("core", "error-codes.ts")) out.push(p);
  }
  return out;
}

describe("the error-code registry", () => {
  it("holds no code that nothing gives", () => {
    const text = ["core", "node", "server", "witness", "client", "scim", "bin"]
      .flatMap(sources)
      .map((f) => readFileSync(join(root, f), "utf8"))
      .join("\n");
    const unused = ERROR_CODES.filter((c) => !new RegExp(`["'\`]${c}["'\`]`).test(text));
    expect(unused).toEqual([]);
  });

  it("answers every code of docs/api.md's table with the status the table says", () => {
    const doc = readFileSync(join(root, "docs/api.md"), "utf8");
    const rows = [...doc.matchAll(/^\| (\d{3}) \| (`[A-Z0-9_`, ]+) \|/gm)];
    expect(rows.length).toBeGreaterThanOrEqual(9);
    const wrong: string[] = [];
    for (const [, status, list] of rows) {
      for (const code of list!.match(/[A-Z0-9_]+/g)!) {
        if (!isErrorCode(code)) wrong.push(`${code}: not registered`);
        else if (statusOf(code) !== Number(status))
          wrong.push(`${code}: ${statusOf(code)}, documented ${status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("gives kinds to the code families and knows no prototype names", () => {
    expect(errorKind("HTTP_502")).toBe("upstream");
    expect(errorKind("SCIM_UNIQUENESS", 409)).toBe("conflict");
    expect(new TrustlogError("SCIM_404", "x", { status: 404 }).kind).toBe("not_found");
    for (const name of ["toString", "__proto__", "constructor", "DB_DOWN", "MISSING_TILE"])
      expect(isErrorCode(name), name).toBe(false);
    expect(knownCode("GRANT_EXPIRED", "BAD_RESPONSE")).toBe("GRANT_EXPIRED");
    expect(knownCode("SOMETHING_NEW", "HTTP_403")).toBe("HTTP_403");
  });

  it("keeps what an error wraps as its cause", () => {
    const inner = new Error("socket closed");
    const e = new TrustlogError("LOG_UNREACHABLE", "GET /checkpoint failed", undefined, { cause: inner });
    expect(e.cause).toBe(inner);
    expect(e.kind).toBe("upstream");
  });
});
