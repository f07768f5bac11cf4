// RFC 8785 JSON Canonicalization Scheme. Key events are signed over these bytes and the Merkle
// leaf is the canonical form of the whole envelope, so two implementations that disagree on a
// single byte here disagree on every signature and every leaf hash.
//
// ECMAScript already defines the two hard parts the way RFC 8785 requires: Number.prototype
// .toString is the number serialisation of RFC 8785 §3.2.2.3 (and JSON.stringify(-0) is "0"),
// and JSON.stringify of a string escapes exactly \b \f \n \r \t \" \\ and other controls as
// lowercase \u00xx (§3.2.2.2). What JSON.stringify does differently is tolerate lone
// surrogates (it escapes them) and undefined values (it drops them); both are refused here.

import { utf8 } from "./bytes.js";
import { TrustlogError } from "./errors.js";

// A lone high surrogate (not followed by a low one) or a lone low surrogate.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function fail(message: string): never {
  throw new TrustlogError("MALFORMED", message);
}

function string(s: string): string {
  if (LONE_SURROGATE.test(s)) fail("string holds a lone surrogate, which has no UTF-8 encoding");
  return JSON.stringify(s);
}

/**
 * Sorts keys in place by UTF-16 code units, the order RFC 8785 §3.2.3 asks for (that of `<` on
 * strings and of the default sort). An event's objects have a handful of keys: an insertion
 * sort allocates nothing, where Array.prototype.sort set up its own work state for each object
 * of each event on the write path.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > k; j--) keys[j + 1] = keys[j]!;
    keys[j + 1] = k;
  }
  return keys;
}

function value(v: unknown, depth: number): string {
  if (depth > 64) fail("value nested too deeply");
  switch (typeof v) {
    case "string":
      return string(v);
    case "number":
      if (!Number.isFinite(v)) fail("NaN and Infinity have no JSON form");
      return JSON.stringify(v);
    case "boolean":
      return v ? "true" : "false";
    case "object": {
      if (v === null) return "null";
      if (Array.isArray(v)) {
        let out = "[";
        for (let i = 0; i < v.length; i++) {
          if (i > 0) out += ",";
          out += value(v[i], depth + 1);
        }
        return out + "]";
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) fail("only plain objects can be canonicalized");
      const keys = sortKeys(Object.keys(v));
      let out = "{";
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (i > 0) out += ",";
        out += string(k) + ":" + value((v as Record<string, unknown>)[k], depth + 1);
      }
      return out + "}";
    }
    default:
      return fail(`a ${typeof v} has no JSON form`);
  }
}

/** The RFC 8785 canonical JSON text of a JSON value. Throws TrustlogError("MALFORMED"). */
export function canonicalize(v: unknown): string {
  return value(v, 0);
}

/** The UTF-8 bytes of `canonicalize(v)`: what is signed and hashed. */
export function canonicalBytes(v: unknown): Uint8Array {
  return utf8(canonicalize(v));
}
