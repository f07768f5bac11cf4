// Builders for key events, for a provisioning service, a client or a test. They take typed
// fields (keys and hashes as bytes or base64), produce the exact wire shape, and run it through
// the same validation the log applies, so a mistake fails here rather than at the server.
// Chain fields (seq, prev) come from the caller: only it knows the subject's current head.

import { toBase64 } from "./bytes.js";
import { ed25519 } from "./ed25519.js";
import { TrustlogError } from "./errors.js";
import {
  type AccountStatusBody,
  type Actor,
  compareKeys,
  type Envelope,
  type EventBodies,
  type EventOf,
  type EventType,
  eventSigningBytes,
  isOrgEventType,
  type KeyAlg,
  type KeyEvent,
  type KeyUse,
  parseEvent,
  type Signature,
} from "./event.js";
import { inviteKeyFromSecret } from "./invite.js";

/** Bytes, or their standard padded base64. */
export type Bytes = Uint8Array | string;

function b64(v: Bytes): string {
  return typeof v === "string" ? v : toBase64(v);
}

/** `YYYY-MM-DDTHH:MM:SSZ` for a Unix time in whole seconds. */
export function formatEventTime(unixSeconds: number): string {
  if (!Number.isSafeInteger(unixSeconds)) {
    throw new TrustlogError("BAD_TIME", `not a whole number of seconds: ${unixSeconds}`);
  }
  const iso = new Date(unixSeconds * 1000).toISOString(); // pure arithmetic, not the clock
  if (!/^\d{4}-/.test(iso)) throw new TrustlogError("BAD_TIME", `year out of range: ${unixSeconds}`);
  return `${iso.slice(0, 19)}Z`;
}

export type ActorInput =
  | { role: "admin"; key: Bytes }
  | { role: "self"; key: Bytes }
  | { role: "delegate"; key: Bytes; grant: string };

/** What every event carries besides its body. `subject` defaults to `org` for org events. */
export interface EventFields {
  org: string;
  subject?: string;
  seq: number;
  /** The subject's previous leaf hash; omit for seq 0. */
  prev?: Bytes;
  /** Unix seconds or an already formatted time. */
  time: number | string;
  actor: ActorInput;
}

function actor(a: ActorInput): Actor {
  return a.role === "delegate"
    ? { role: a.role, key: b64(a.key), grant: a.grant }
    : { role: a.role, key: b64(a.key) };
}

/** Assembles and validates an event of any type (throws MALFORMED like the log would). */
export function buildEvent<T extends EventType>(
  type: T,
  fields: EventFields,
  body: EventBodies[T],
): EventOf<T> {
  let subject = fields.subject;
  if (subject === undefined) {
    if (!isOrgEventType(type))
      throw new TrustlogError("MALFORMED", `${type} needs a subject (the account id)`);
    subject = fields.org;
  }
  const raw: Record<string, unknown> = {
    v: 1,
    type,
    org: fields.org,
    subject,
    seq: fields.seq,
    time: typeof fields.time === "number" ? formatEventTime(fields.time) : fields.time,
    actor: actor(fields.actor),
    body,
  };
  if (fields.prev !== undefined) raw.prev = b64(fields.prev);
  return parseEvent(raw) as EventOf<T>;
}

function statusBody(f: { reason: string; scimRequestHash?: Bytes }): AccountStatusBody {
  const body: AccountStatusBody = { reason: f.reason };
  if (f.scimRequestHash !== undefined) body.scimRequestHash = b64(f.scimRequestHash);
  return body;
}

export function orgCreate(
  f: Omit<EventFields, "seq" | "prev" | "subject"> & { name: string; admins: Bytes[]; threshold: number },
): EventOf<"org.create"> {
  return buildEvent(
    "org.create",
    { ...f, seq: 0 },
    { name: f.name, admins: f.admins.map(b64), threshold: f.threshold },
  );
}

export function adminAdd(f: EventFields & { key: Bytes }): EventOf<"admin.add"> {
  return buildEvent("admin.add", f, { key: b64(f.key) });
}

export function adminRemove(f: EventFields & { key: Bytes }): EventOf<"admin.remove"> {
  return buildEvent("admin.remove", f, { key: b64(f.key) });
}

export function grantIssue(
  f: EventFields & {
    id: string;
    delegate: Bytes;
    ops: EventType[];
    accounts: string[];
    notBefore: number | string;
    notAfter: number | string;
    note: string;
    attestation?: string;
  },
): EventOf<"grant.issue"> {
  const t = (x: number | string) => (typeof x === "number" ? formatEventTime(x) : x);
  const body: EventBodies["grant.issue"] = {
    id: f.id,
    delegate: b64(f.delegate),
    ops: [...f.ops],
    accounts: [...f.accounts],
    notBefore: t(f.notBefore),
    notAfter: t(f.notAfter),
    note: f.note,
  };
  if (f.attestation !== undefined) body.attestation = f.attestation;
  return buildEvent("grant.issue", f, body);
}

export function grantRevoke(f: EventFields & { id: string; reason: string }): EventOf<"grant.revoke"> {
  return buildEvent("grant.revoke", f, { id: f.id, reason: f.reason });
}

export function accountInvite(
  f: Omit<EventFields, "seq" | "prev"> & {
    subject: string;
    externalId?: string;
    scimRequestHash?: Bytes;
    /** The invite public key itself, or the invite secret to derive it from (core/invite.ts). */
    inviteKey?: Bytes;
    inviteSecret?: Uint8Array;
  },
): EventOf<"account.invite"> {
  let inviteKey: string;
  if (f.inviteKey !== undefined) inviteKey = b64(f.inviteKey);
  else if (f.inviteSecret !== undefined) inviteKey = toBase64(inviteKeyFromSecret(f.inviteSecret).publicKey);
  else throw new TrustlogError("MALFORMED", "account.invite needs inviteKey or inviteSecret");
  const body: EventBodies["account.invite"] = { inviteKey };
  if (f.externalId !== undefined) body.externalId = f.externalId;
  if (f.scimRequestHash !== undefined) body.scimRequestHash = b64(f.scimRequestHash);
  return buildEvent("account.invite", { ...f, seq: 0 }, body);
}

export function keyAdd(
  f: EventFields & {
    subject: string;
    key: { id: string; alg: KeyAlg; use: KeyUse; pub: Bytes };
  },
): EventOf<"key.add"> {
  return buildEvent("key.add", f, {
    key: { id: f.key.id, alg: f.key.alg, use: f.key.use, pub: b64(f.key.pub) },
  });
}

export function keyRevoke(
  f: EventFields & { subject: string; keyId: string; reason: string },
): EventOf<"key.revoke"> {
  return buildEvent("key.revoke", f, { keyId: f.keyId, reason: f.reason });
}

type StatusFields = EventFields & { subject: string; reason: string; scimRequestHash?: Bytes };

export function accountSuspend(f: StatusFields): EventOf<"account.suspend"> {
  return buildEvent("account.suspend", f, statusBody(f));
}

export function accountReactivate(f: StatusFields): EventOf<"account.reactivate"> {
  return buildEvent("account.reactivate", f, statusBody(f));
}

export function accountDelete(f: StatusFields): EventOf<"account.delete"> {
  return buildEvent("account.delete", f, statusBody(f));
}

/**
 * Signs an event with each 32-byte Ed25519 seed and wraps it in an envelope. Seeds of the same
 * key sign once; the signatures are sorted by key bytes, as the log stores them. An account's
 * first key.add is sealed with the new key's seed and `inviteKeyFromSecret(secret).seed`.
 */
export function sealEvent(event: KeyEvent, seeds: Uint8Array[]): Envelope {
  if (seeds.length === 0) throw new TrustlogError("MALFORMED", "an envelope needs at least one signature");
  const message = eventSigningBytes(event);
  const byKey = new Map<string, Signature>();
  for (const seed of seeds) {
    const key = toBase64(ed25519().publicKey(seed));
    if (!byKey.has(key)) byKey.set(key, { key, sig: toBase64(ed25519().sign(message, seed)) });
  }
  const sigs = [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
  return { event, sigs };
}
