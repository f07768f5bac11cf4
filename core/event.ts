// Key events and their signed envelopes (DESIGN.md §3, docs/events.md). Everything here is
// stateless: shape, encodings and signatures. Whether an event is allowed given the log's state
// is core/policy.ts.
//
// Every envelope reaching parseEnvelope is attacker-controlled: it is size-capped before it is
// parsed, then copied field by field into fresh objects, so nothing the caller handed in (extra
// fields, prototypes, getters) survives into what is hashed, stored or trusted.

import { base64Length, concat, equalBytes, fromBase64, fromUtf8 } from "./bytes.js";
import { ed25519 } from "./ed25519.js";
import { TrustlogError } from "./errors.js";
import { canonicalBytes } from "./jcs.js";
import { sha256 } from "./sha256.js";

export const MAX_ENVELOPE_BYTES = 16384;
export const MAX_SIGS = 16;
export const MAX_ADMINS = 32;
export const MAX_NOTE_CHARS = 1024;
export const MAX_TEXT_CHARS = 1024;
export const MAX_ACCOUNT_PREFIXES = 64;

export const EVENT_TYPES = [
  "org.create",
  "admin.add",
  "admin.remove",
  "grant.issue",
  "grant.revoke",
  "account.invite",
  "key.add",
  "key.revoke",
  "account.suspend",
  "account.reactivate",
  "account.delete",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The only operations a grant may hand to a delegate (DESIGN.md §3 rule 4). */
export const DELEGABLE_OPS: readonly EventType[] = [
  "account.invite",
  "account.suspend",
  "account.reactivate",
  "account.delete",
  "key.revoke",
];

/** Types whose subject is the org itself; the others are about an account. */
export const ORG_EVENT_TYPES: readonly EventType[] = [
  "org.create",
  "admin.add",
  "admin.remove",
  "grant.issue",
  "grant.revoke",
];

export function isOrgEventType(type: EventType): boolean {
  return ORG_EVENT_TYPES.includes(type);
}

/** Types that create their subject, so they and only they have seq 0. */
export function isCreatingType(type: EventType): boolean {
  return type === "org.create" || type === "account.invite";
}

export type Role = "admin" | "delegate" | "self";
export type Actor =
  | { role: "admin"; key: string }
  | { role: "self"; key: string }
  | { role: "delegate"; key: string; grant: string };

export interface OrgCreateBody {
  name: string;
  admins: string[];
  threshold: number;
}
export interface AdminBody {
  key: string;
}
export interface GrantIssueBody {
  id: string;
  delegate: string;
  ops: EventType[];
  accounts: string[];
  notBefore: string;
  notAfter: string;
  note: string;
  attestation?: string;
}
export interface GrantRevokeBody {
  id: string;
  reason: string;
}
export interface AccountInviteBody {
  externalId?: string;
  /** Hash of the provisioning request that caused it (a SCIM bridge's), like the status bodies'. */
  scimRequestHash?: string;
  /** Base64 Ed25519 public key derived from the invite secret (core/invite.ts). */
  inviteKey: string;
}
export type KeyAlg = "ed25519" | "x25519";
export type KeyUse = "sign" | "encrypt";
export interface PublicKeyEntry {
  id: string;
  alg: KeyAlg;
  use: KeyUse;
  pub: string;
}
export interface KeyAddBody {
  key: PublicKeyEntry;
}
export interface KeyRevokeBody {
  keyId: string;
  reason: string;
}
export interface AccountStatusBody {
  reason: string;
  scimRequestHash?: string;
}

export interface EventBodies {
  "org.create": OrgCreateBody;
  "admin.add": AdminBody;
  "admin.remove": AdminBody;
  "grant.issue": GrantIssueBody;
  "grant.revoke": GrantRevokeBody;
  "account.invite": AccountInviteBody;
  "key.add": KeyAddBody;
  "key.revoke": KeyRevokeBody;
  "account.suspend": AccountStatusBody;
  "account.reactivate": AccountStatusBody;
  "account.delete": AccountStatusBody;
}

export type EventOf<T extends EventType> = {
  v: 1;
  type: T;
  org: string;
  subject: string;
  seq: number;
  /** Base64 leaf hash of the subject's previous event; present iff seq > 0. */
  prev?: string;
  time: string;
  actor: Actor;
  body: EventBodies[T];
};

export type KeyEvent = { [T in EventType]: EventOf<T> }[EventType];

export interface Signature {
  key: string;
  sig: string;
}

export interface Envelope {
  event: KeyEvent;
  sigs: Signature[];
}

export interface ParsedEnvelope {
  envelope: Envelope;
  /** Canonical UTF-8 JSON of the whole envelope: the Merkle leaf. */
  leaf: Uint8Array;
  /** RFC 6962 leaf hash, SHA-256(0x00 || leaf). */
  leafHash: Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Validation. Hand-written rather than a schema library: this runs on every submitted event.

type Obj = Record<string, unknown>;

function bad(path: string, message: string): never {
  throw new TrustlogError("MALFORMED", `${path}: ${message}`, { path });
}

function object(v: unknown, path: string, required: readonly string[], optional: readonly string[]): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(path, "must be an object");
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) bad(path, "must be a plain object");
  const o = v as Obj;
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) bad(path, `unknown field ${JSON.stringify(k)}`);
  }
  for (const k of required) if (!Object.hasOwn(o, k)) bad(path, `missing field "${k}"`);
  return o;
}

function array(v: unknown, path: string, min: number, max: number): unknown[] {
  if (!Array.isArray(v)) bad(path, "must be an array");
  if (v.length < min || v.length > max) bad(path, `must hold ${min} to ${max} entries`);
  return v;
}

function text(v: unknown, path: string, min: number, max: number): string {
  if (typeof v !== "string") bad(path, "must be a string");
  if (v.length < min || v.length > max) bad(path, `must be ${min} to ${max} characters`);
  return v;
}

const ID = /^[A-Za-z0-9._@+-]{1,128}$/;

function id(v: unknown, path: string): string {
  if (typeof v !== "string" || !ID.test(v)) bad(path, "must be an id of 1-128 characters [A-Za-z0-9._@+-]");
  return v;
}

function b64(v: unknown, path: string, minBytes: number, maxBytes: number): string {
  if (typeof v !== "string") bad(path, "must be a base64 string");
  let length: number;
  try {
    length = base64Length(v);
  } catch (e) {
    bad(path, `not strict base64 (${(e as Error).message})`);
  }
  if (length < minBytes || length > maxBytes) {
    bad(
      path,
      minBytes === maxBytes ? `must encode ${minBytes} bytes` : `must encode ${minBytes}-${maxBytes} bytes`,
    );
  }
  return v;
}

const key32 = (v: unknown, path: string) => b64(v, path, 32, 32);

// \d without the u flag is [0-9] only: the positions read below are ASCII digits.
const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The decimal number of the `n` ASCII digits of `s` from `at`. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 10 + (s.charCodeAt(i) - 48);
  return v;
}

function daysFromCivil(y: number, m: number, d: number): number {
  // Howard Hinnant's days_from_civil: exact for the proleptic Gregorian calendar, no Date needed.
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses an event time `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds, a real calendar
 * date, no leap second) into Unix seconds; undefined when the text is not exactly that.
 */
export function parseEventTime(s: string): number | undefined {
  // Tested with the pattern, read by position: no match array (policy reads every event's
  // time, and a grant's two, once per event on the write path).
  if (!TIME.test(s)) return undefined;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const h = digits(s, 11, 2);
  const mi = digits(s, 14, 2);
  const se = digits(s, 17, 2);
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return undefined;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const monthDays = mo === 2 ? (leap ? 29 : 28) : MONTH_DAYS[mo - 1]!;
  if (d > monthDays) return undefined;
  return daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

function time(v: unknown, path: string): string {
  if (typeof v !== "string" || parseEventTime(v) === undefined) {
    bad(path, "must be an RFC 3339 UTC time YYYY-MM-DDTHH:MM:SSZ");
  }
  return v;
}

function distinct(values: string[], path: string): void {
  if (new Set(values).size !== values.length) bad(path, "entries must be distinct");
}

function eventType(v: unknown, path: string): EventType {
  if (typeof v !== "string" || !(EVENT_TYPES as readonly string[]).includes(v))
    bad(path, "unknown event type");
  return v as EventType;
}

function readActor(v: unknown): Actor {
  if (typeof v !== "object" || v === null) bad("event.actor", "must be an object");
  const role = (v as Obj).role;
  if (role === "delegate") {
    const o = object(v, "event.actor", ["role", "key", "grant"], []);
    return { role, key: key32(o.key, "event.actor.key"), grant: id(o.grant, "event.actor.grant") };
  }
  if (role === "admin" || role === "self") {
    const o = object(v, "event.actor", ["role", "key"], []);
    return { role, key: key32(o.key, "event.actor.key") };
  }
  return bad("event.actor.role", 'must be "admin", "delegate" or "self"');
}

function readBody(type: EventType, v: unknown): EventBodies[EventType] {
  const p = "event.body";
  switch (type) {
    case "org.create": {
      const o = object(v, p, ["name", "admins", "threshold"], []);
      const admins = array(o.admins, `${p}.admins`, 1, MAX_ADMINS).map((k, i) =>
        key32(k, `${p}.admins[${i}]`),
      );
      distinct(admins, `${p}.admins`);
      const t = o.threshold;
      if (typeof t !== "number" || !Number.isInteger(t) || t < 1 || t > admins.length) {
        bad(`${p}.threshold`, "must be an integer from 1 to the number of admins");
      }
      return { name: text(o.name, `${p}.name`, 1, 256), admins, threshold: t };
    }
    case "admin.add":
    case "admin.remove": {
      const o = object(v, p, ["key"], []);
      return { key: key32(o.key, `${p}.key`) };
    }
    case "grant.issue": {
      const o = object(
        v,
        p,
        ["id", "delegate", "ops", "accounts", "notBefore", "notAfter", "note"],
        ["attestation"],
      );
      // Non-delegable ops parse: the policy refuses them with OP_NOT_DELEGABLE, a clearer answer.
      const ops = array(o.ops, `${p}.ops`, 1, EVENT_TYPES.length).map((t, i) =>
        eventType(t, `${p}.ops[${i}]`),
      );
      distinct(ops, `${p}.ops`);
      const accounts = array(o.accounts, `${p}.accounts`, 1, MAX_ACCOUNT_PREFIXES).map((a, i) =>
        a === "*" ? a : id(a, `${p}.accounts[${i}]`),
      );
      if (accounts.includes("*") && accounts.length > 1) bad(`${p}.accounts`, '"*" must stand alone');
      distinct(accounts, `${p}.accounts`);
      const notBefore = time(o.notBefore, `${p}.notBefore`);
      const notAfter = time(o.notAfter, `${p}.notAfter`);
      if (parseEventTime(notBefore)! >= parseEventTime(notAfter)!)
        bad(`${p}.notAfter`, "must be after notBefore");
      const body: GrantIssueBody = {
        id: id(o.id, `${p}.id`),
        delegate: key32(o.delegate, `${p}.delegate`),
        ops,
        accounts,
        notBefore,
        notAfter,
        note: text(o.note, `${p}.note`, 0, MAX_NOTE_CHARS),
      };
      if (Object.hasOwn(o, "attestation"))
        body.attestation = text(o.attestation, `${p}.attestation`, 1, 4096);
      return body;
    }
    case "grant.revoke": {
      const o = object(v, p, ["id", "reason"], []);
      return { id: id(o.id, `${p}.id`), reason: text(o.reason, `${p}.reason`, 0, MAX_TEXT_CHARS) };
    }
    case "account.invite": {
      const o = object(v, p, ["inviteKey"], ["externalId", "scimRequestHash"]);
      const body: AccountInviteBody = { inviteKey: key32(o.inviteKey, `${p}.inviteKey`) };
      if (Object.hasOwn(o, "externalId")) body.externalId = text(o.externalId, `${p}.externalId`, 1, 256);
      if (Object.hasOwn(o, "scimRequestHash"))
        body.scimRequestHash = key32(o.scimRequestHash, `${p}.scimRequestHash`);
      return body;
    }
    case "key.add": {
      const o = object(v, p, ["key"], []);
      const k = object(o.key, `${p}.key`, ["id", "alg", "use", "pub"], []);
      if (!(k.alg === "ed25519" && k.use === "sign") && !(k.alg === "x25519" && k.use === "encrypt")) {
        bad(`${p}.key`, 'alg and use must be "ed25519" with "sign" or "x25519" with "encrypt"');
      }
      return {
        key: { id: id(k.id, `${p}.key.id`), alg: k.alg, use: k.use, pub: key32(k.pub, `${p}.key.pub`) },
      };
    }
    case "key.revoke": {
      const o = object(v, p, ["keyId", "reason"], []);
      return { keyId: id(o.keyId, `${p}.keyId`), reason: text(o.reason, `${p}.reason`, 0, MAX_TEXT_CHARS) };
    }
    case "account.suspend":
    case "account.reactivate":
    case "account.delete": {
      const o = object(v, p, ["reason"], ["scimRequestHash"]);
      const body: AccountStatusBody = { reason: text(o.reason, `${p}.reason`, 0, MAX_TEXT_CHARS) };
      if (Object.hasOwn(o, "scimRequestHash"))
        body.scimRequestHash = key32(o.scimRequestHash, `${p}.scimRequestHash`);
      return body;
    }
  }
}

/**
 * Validates a key event's shape (not its authority) and returns a fresh copy holding exactly
 * the allowed fields. Throws TrustlogError("MALFORMED") naming the offending path.
 */
export function parseEvent(v: unknown): KeyEvent {
  const o = object(v, "event", ["v", "type", "org", "subject", "seq", "time", "actor", "body"], ["prev"]);
  if (o.v !== 1) bad("event.v", "must be 1");
  const type = eventType(o.type, "event.type");
  const org = id(o.org, "event.org");
  const subject = id(o.subject, "event.subject");
  if (isOrgEventType(type) && subject !== org) bad("event.subject", "an org event's subject is its org id");
  const seq = o.seq;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq < 0) {
    bad("event.seq", "must be a non-negative safe integer");
  }
  if (isCreatingType(type) !== (seq === 0)) {
    bad("event.seq", "must be 0 for org.create and account.invite, and above 0 for every other type");
  }
  const hasPrev = Object.hasOwn(o, "prev");
  if (hasPrev !== seq > 0) bad("event.prev", "must be present exactly when seq > 0");
  const event = {
    v: 1,
    type,
    org,
    subject,
    seq,
    time: time(o.time, "event.time"),
    actor: readActor(o.actor),
    body: readBody(type, o.body),
  } as KeyEvent;
  if (hasPrev) event.prev = key32(o.prev, "event.prev");
  return event;
}

/** Orders two base64 keys by their decoded bytes (base64's alphabet is not in byte order). */
export function compareKeys(a: string, b: string): number {
  const x = fromBase64(a);
  const y = fromBase64(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

// One event, one leaf (DESIGN.md §4): the same signers must always give the same leaf, so the
// entries are put in the order of their decoded key bytes, whatever order they came in. A
// stored leaf in any other order is not canonical, and verifiers refuse it.
function readSigs(v: unknown): Signature[] {
  const sigs = array(v, "sigs", 1, MAX_SIGS).map((s, i) => {
    const o = object(s, `sigs[${i}]`, ["key", "sig"], []);
    return { key: key32(o.key, `sigs[${i}].key`), sig: b64(o.sig, `sigs[${i}].sig`, 64, 64) };
  });
  distinct(
    sigs.map((s) => s.key),
    "sigs (keys)",
  );
  return sigs.sort((a, b) => compareKeys(a.key, b.key));
}

/**
 * The most signatures an event's rule can use (docs/events.md §1), known without the log's
 * state: an account event other than key.add has its actor only; key.add its actor and the new
 * key (or, for the first key, the new key and the invite key); org.create the admins in its
 * body; admin.add up to every admin and the new admin key (how many admins the org has is not
 * known here, so MAX_ADMINS + 1); the other org events up to every admin. Never above MAX_SIGS.
 * An envelope with more is refused (TOO_MANY_SIGNATURES) before any signature is verified, so
 * a signature nobody needs costs a verifier nothing.
 */
export function maxSignatures(event: KeyEvent): number {
  switch (event.type) {
    case "key.add":
      return 2;
    case "org.create":
      return event.body.admins.length;
    case "admin.add":
      return MAX_ADMINS + 1;
    case "admin.remove":
    case "grant.issue":
    case "grant.revoke":
      return MAX_ADMINS;
    default:
      return 1;
  }
}

function tooLarge(size: number): never {
  throw new TrustlogError("TOO_LARGE", `envelope is ${size} bytes, more than ${MAX_ENVELOPE_BYTES}`, {
    size,
    limit: MAX_ENVELOPE_BYTES,
  });
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new TrustlogError("MALFORMED", "not valid JSON");
  }
}

/**
 * Parses a submitted envelope: a JSON string, its UTF-8 bytes, or an already parsed value.
 * Checks size (TOO_LARGE, before parsing when there is text), JSON (MALFORMED), then the exact
 * shape of DESIGN.md §3 (MALFORMED). Signatures are not checked here: see checkSignatures.
 *
 * Duplicate JSON keys resolve as JSON.parse does (the last wins); that is harmless because the
 * log stores and hashes the canonical leaf returned here, never the submitted text.
 */
export function parseEnvelope(input: string | Uint8Array | unknown): ParsedEnvelope {
  let raw: unknown;
  if (input instanceof Uint8Array) {
    if (input.length > MAX_ENVELOPE_BYTES) tooLarge(input.length);
    let text: string;
    try {
      text = fromUtf8(input);
    } catch {
      throw new TrustlogError("MALFORMED", "envelope is not valid UTF-8");
    }
    raw = parseJson(text);
  } else if (typeof input === "string") {
    // A UTF-16 unit is at least one UTF-8 byte: refuse huge strings without scanning them.
    if (input.length > MAX_ENVELOPE_BYTES) tooLarge(input.length);
    const size = utf8Length(input);
    if (size > MAX_ENVELOPE_BYTES) tooLarge(size);
    raw = parseJson(input);
  } else {
    raw = input;
  }
  const o = object(raw, "envelope", ["event", "sigs"], []);
  const envelope: Envelope = { event: parseEvent(o.event), sigs: readSigs(o.sigs) };
  const most = Math.min(maxSignatures(envelope.event), MAX_SIGS);
  if (envelope.sigs.length > most) {
    throw new TrustlogError(
      "TOO_MANY_SIGNATURES",
      `sigs: ${envelope.event.type} can use at most ${most} signature${most === 1 ? "" : "s"}, got ${envelope.sigs.length}`,
      { path: "sigs", count: envelope.sigs.length, limit: most },
    );
  }
  const leaf = canonicalBytes(envelope);
  // Canonical text can be longer than what was sent (1e2 becomes 100) and a parsed value had
  // no size at all, so the leaf itself is what the cap finally applies to.
  if (leaf.length > MAX_ENVELOPE_BYTES) tooLarge(leaf.length);
  return { envelope, leaf, leafHash: sha256(concat(new Uint8Array([0]), leaf)) };
}

/**
 * Parses a leaf read from a log: like parseEnvelope, and the bytes must be exactly the
 * canonical form (signatures in key order included), which is all an honest log ever stores.
 * Throws MALFORMED ("NOT_CANONICAL" in details.reason) otherwise.
 */
export function parseStoredEnvelope(leaf: Uint8Array): ParsedEnvelope {
  const parsed = parseEnvelope(leaf);
  if (!equalBytes(parsed.leaf, leaf)) {
    throw new TrustlogError("MALFORMED", "the leaf is not the canonical form of its envelope", {
      reason: "NOT_CANONICAL",
    });
  }
  return parsed;
}

/** The bytes every signature of an envelope covers: the canonical JSON of the event alone. */
export function eventSigningBytes(event: KeyEvent): Uint8Array {
  return canonicalBytes(event);
}

/**
 * Checks that every signature verifies over the event (stateless, so the server does it
 * before queueing). Whether each signer plays a role is the policy's business.
 * Throws SIG_INVALID naming the first key whose signature fails, MALFORMED on repeated keys.
 */
export function checkSignatures(envelope: Envelope): void {
  const message = eventSigningBytes(envelope.event);
  const seen = new Set<string>();
  for (const s of envelope.sigs) {
    if (seen.has(s.key)) throw new TrustlogError("MALFORMED", `sigs: key ${s.key} appears twice`);
    seen.add(s.key);
    if (!ed25519().verify(fromBase64(s.sig), message, fromBase64(s.key))) {
      throw new TrustlogError("SIG_INVALID", `signature by ${s.key} does not verify`, { key: s.key });
    }
  }
}
