// SCIM filters (RFC 7644 §3.4.2.2): a small parser and evaluator. Grammar:
//   filter := or ; or := and ("or" and)* ; and := unary ("and" unary)*
//   unary  := "not" "(" filter ")" | "(" filter ")" | attrPath "pr" | attrPath op value
//           | attrPath "[" filter "]"            (a value filter on a multi-valued attribute)
//   op := eq ne co sw ew gt ge lt le ; value := "string" | number | true | false | null
// Attribute names and operators are case-insensitive. String comparisons are case-insensitive
// except for attributes declared caseExact (id, externalId, meta.version): RFC 7643 §2.4 and
// the User/Group schemas (§4) make userName, emails, displayName case-insensitive.

import { badRequest } from "./errors.js";

export type CompareOp = "eq" | "ne" | "co" | "sw" | "ew" | "gt" | "ge" | "lt" | "le";
export type Filter =
  | { kind: "and" | "or"; left: Filter; right: Filter }
  | { kind: "not"; filter: Filter }
  | { kind: "pr"; path: string }
  | { kind: "cmp"; path: string; op: CompareOp; value: string | number | boolean | null }
  | { kind: "valuePath"; path: string; filter: Filter };

const OPS = new Set(["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]);
const MAX_FILTER_LENGTH = 4096;
const MAX_DEPTH = 32;

type Token = { t: "word" | "str" | "num" | "(" | ")" | "[" | "]"; v: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++;
    } else if (c === "(" || c === ")" || c === "[" || c === "]") {
      out.push({ t: c, v: c });
      i++;
    } else if (c === '"') {
      // A JSON string: find its end, honouring escapes, and decode it with JSON.parse.
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === "\\" ? 2 : 1;
      if (j >= src.length) throw badRequest("invalidFilter", "unterminated string in filter");
      let v: string;
      try {
        v = JSON.parse(src.slice(i, j + 1)) as string;
      } catch {
        throw badRequest("invalidFilter", "bad string in filter");
      }
      out.push({ t: "str", v });
      i = j + 1;
    } else {
      let j = i;
      while (j < src.length && !/[\s()[\]"]/.test(src[j]!)) j++;
      const w = src.slice(i, j);
      out.push(/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(w) ? { t: "num", v: w } : { t: "word", v: w });
      i = j;
    }
  }
  return out;
}

/** Parses a filter; throws 400 invalidFilter. */
export function parseFilter(src: string): Filter {
  if (src.length > MAX_FILTER_LENGTH) throw badRequest("invalidFilter", "filter too long");
  const toks = tokenize(src);
  let pos = 0;
  const peekWord = () => (toks[pos]?.t === "word" ? toks[pos]!.v.toLowerCase() : undefined);
  const expect = (t: Token["t"]) => {
    if (toks[pos]?.t !== t) throw badRequest("invalidFilter", `expected ${t} in filter at token ${pos + 1}`);
    pos++;
  };
  const orExpr = (depth: number): Filter => {
    if (depth > MAX_DEPTH) throw badRequest("invalidFilter", "filter nested too deeply");
    let left = andExpr(depth);
    while (peekWord() === "or") {
      pos++;
      left = { kind: "or", left, right: andExpr(depth) };
    }
    return left;
  };
  const andExpr = (depth: number): Filter => {
    let left = unary(depth);
    while (peekWord() === "and") {
      pos++;
      left = { kind: "and", left, right: unary(depth) };
    }
    return left;
  };
  const unary = (depth: number): Filter => {
    const tok = toks[pos];
    if (!tok) throw badRequest("invalidFilter", "filter ends too early");
    if (tok.t === "word" && tok.v.toLowerCase() === "not" && toks[pos + 1]?.t === "(") {
      pos += 2;
      const f = orExpr(depth + 1);
      expect(")");
      return { kind: "not", filter: f };
    }
    if (tok.t === "(") {
      pos++;
      const f = orExpr(depth + 1);
      expect(")");
      return f;
    }
    if (tok.t !== "word") throw badRequest("invalidFilter", `expected an attribute in filter, got ${tok.v}`);
    const path = tok.v;
    if (!/^[A-Za-z0-9:._$-]+$/.test(path)) throw badRequest("invalidFilter", `bad attribute ${path}`);
    pos++;
    if (toks[pos]?.t === "[") {
      pos++;
      const f = orExpr(depth + 1);
      expect("]");
      return { kind: "valuePath", path, filter: f };
    }
    const op = peekWord();
    if (op === "pr") {
      pos++;
      return { kind: "pr", path };
    }
    if (!op || !OPS.has(op))
      throw badRequest("invalidFilter", `unknown operator ${toks[pos]?.v ?? "(none)"}`);
    pos++;
    const v = toks[pos];
    if (!v) throw badRequest("invalidFilter", "a comparison needs a value");
    pos++;
    let value: string | number | boolean | null;
    if (v.t === "str") value = v.v;
    else if (v.t === "num") value = Number(v.v);
    else if (v.t === "word" && ["true", "false", "null"].includes(v.v.toLowerCase()))
      value = v.v.toLowerCase() === "null" ? null : v.v.toLowerCase() === "true";
    else throw badRequest("invalidFilter", `bad value ${v.v}`);
    return { kind: "cmp", path, op: op as CompareOp, value };
  };
  const f = orExpr(0);
  if (pos !== toks.length) throw badRequest("invalidFilter", `unexpected ${toks[pos]!.v} in filter`);
  return f;
}

const CORE_PREFIXES = [
  "urn:ietf:params:scim:schemas:core:2.0:user:",
  "urn:ietf:params:scim:schemas:core:2.0:group:",
];
const CASE_EXACT = new Set(["id", "externalid", "meta.version"]);

/** Removes a core schema URN prefix; keeps extension URNs (their attribute follows the last ':'). */
export function stripCorePrefix(path: string): string {
  const lower = path.toLowerCase();
  for (const p of CORE_PREFIXES) if (lower.startsWith(p)) return path.slice(p.length);
  return path;
}

/** The value(s) at an attribute path, case-insensitively; arrays are flattened. */
export function valuesAt(resource: unknown, path: string): unknown[] {
  let p = stripCorePrefix(path);
  let current: unknown[] = [resource];
  // An extension URN path: "urn:…:User:employeeNumber" → resource["urn:…:User"].employeeNumber
  if (p.toLowerCase().startsWith("urn:")) {
    const cut = p.lastIndexOf(":");
    const urn = p.slice(0, cut);
    current = current.map((r) => getCI(r, urn));
    p = p.slice(cut + 1);
  }
  for (const part of p.split(".")) {
    const next: unknown[] = [];
    for (const c of current) {
      const v = getCI(c, part);
      if (Array.isArray(v)) next.push(...v);
      else if (v !== undefined) next.push(v);
    }
    current = next;
  }
  return current.filter((v) => v !== undefined && v !== null);
}

function getCI(obj: unknown, key: string): unknown {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) return undefined;
  const lower = key.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function compare(a: unknown, op: CompareOp, b: string | number | boolean | null, exact: boolean): boolean {
  if (b === null) return op === "eq" ? a === null || a === undefined : op === "ne" ? a != null : false;
  if (typeof b === "string" && typeof a === "string") {
    const x = exact ? a : a.toLowerCase();
    const y = exact ? b : b.toLowerCase();
    switch (op) {
      case "eq":
        return x === y;
      case "ne":
        return x !== y;
      case "co":
        return x.includes(y);
      case "sw":
        return x.startsWith(y);
      case "ew":
        return x.endsWith(y);
      case "gt":
        return x > y;
      case "ge":
        return x >= y;
      case "lt":
        return x < y;
      case "le":
        return x <= y;
    }
  }
  if (typeof b === "boolean") {
    const av = typeof a === "string" ? a.toLowerCase() === "true" : a;
    if (op === "eq") return av === b;
    if (op === "ne") return av !== b;
    throw badRequest("invalidFilter", `operator ${op} does not apply to booleans`);
  }
  if (typeof b === "number" && typeof a === "number") {
    switch (op) {
      case "eq":
        return a === b;
      case "ne":
        return a !== b;
      case "gt":
        return a > b;
      case "ge":
        return a >= b;
      case "lt":
        return a < b;
      case "le":
        return a <= b;
      default:
        throw badRequest("invalidFilter", `operator ${op} does not apply to numbers`);
    }
  }
  return op === "ne";
}

/** Whether a resource matches a filter. */
export function matches(resource: unknown, f: Filter): boolean {
  switch (f.kind) {
    case "and":
      return matches(resource, f.left) && matches(resource, f.right);
    case "or":
      return matches(resource, f.left) || matches(resource, f.right);
    case "not":
      return !matches(resource, f.filter);
    case "pr":
      return valuesAt(resource, f.path).some((v) => v !== "" && !(Array.isArray(v) && v.length === 0));
    case "valuePath":
      return valuesAt(resource, f.path).some((v) => matches(v, f.filter));
    case "cmp": {
      const exact = CASE_EXACT.has(stripCorePrefix(f.path).toLowerCase());
      const values = valuesAt(resource, f.path);
      if (f.op === "ne") return values.every((v) => compare(v, "ne", f.value, exact));
      if (values.length === 0) return f.value === null && f.op === "eq";
      // A multi-valued complex attribute compares its "value" sub-attribute (emails eq "x").
      return values.some((v) =>
        compare(typeof v === "object" && v !== null ? getCI(v, "value") : v, f.op, f.value, exact),
      );
    }
  }
}

/** `attr eq "value"` on one of `attrs` (lower-case), for the indexed fast path; else undefined. */
export function simpleEquality(
  f: Filter,
  attrs: readonly string[],
): { attr: string; value: string } | undefined {
  if (f.kind !== "cmp" || f.op !== "eq" || typeof f.value !== "string") return undefined;
  const attr = stripCorePrefix(f.path).toLowerCase();
  return attrs.includes(attr) ? { attr, value: f.value } : undefined;
}
