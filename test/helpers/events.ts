// A small DSL for signed key-event histories in tests (core, server, witness, client).
//
//   const h = new History();
//   const root = testKey("acme-root");
//   h.append(h.orgCreate("acme", { admins: [root] }));
//   h.append(h.grantIssue("acme", { id: "scim", delegate: bridge, ops: ["account.invite"] }, admin(root)));
//   h.append(h.invite("acme", "alice", delegate(bridge, "scim")));
//   h.append(h.keyAdd("acme", "alice", laptop));            // first key: co-signed by the invite key
//   const err = h.refuse(h.keyAdd("acme", "alice", evil, { by: delegate(bridge, "scim") }));
//
// Builders sign against the subject's current head in `h.state` (so seq and prev are right)
// but do not apply anything: pass the envelope to `append` (applies the policy, records the
// entry) or `refuse` (expects a refusal and checks that the state did not change), or submit it
// to a server. Keys and invite secrets derive from labels, so every run builds the same bytes.

import { sha256 } from "@noble/hashes/sha2.js";
import { toBase64, utf8 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import { isTrustlogError, type TrustlogError } from "../../core/errors.js";
import { type Envelope, type EventType, type KeyEvent, parseEnvelope } from "../../core/event.js";
import {
  type ActorInput,
  accountDelete,
  accountInvite,
  accountReactivate,
  accountSuspend,
  adminAdd,
  adminRemove,
  type EventFields,
  grantIssue,
  grantRevoke,
  keyAdd,
  keyRevoke,
  orgCreate,
  sealEvent,
} from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { MemoryState } from "../../core/memory-state.js";
import type { ApplyResult, PolicyLimits } from "../../core/policy.js";
import type { Head } from "../../core/state.js";

/** A deterministic Ed25519 key (and an X25519 stand-in) named by a label. */
export interface TestKey {
  label: string;
  seed: Uint8Array;
  /** Base64 Ed25519 public key. */
  pub: string;
  /** Base64 of 32 bytes standing in for this holder's X25519 encryption key. */
  x25519: string;
}

const keyCache = new Map<string, TestKey>();

export function testKey(label: string): TestKey {
  let k = keyCache.get(label);
  if (!k) {
    const seed = sha256(utf8(`trustlog test key:${label}`));
    k = {
      label,
      seed,
      pub: toBase64(ed25519().publicKey(seed)),
      x25519: toBase64(sha256(utf8(`trustlog test x25519:${label}`))),
    };
    keyCache.set(label, k);
  }
  return k;
}

/** Who authorises an event: an admin (with optional co-signing admins), a delegate or the account. */
export type By =
  | { admin: TestKey; cosign?: TestKey[] }
  | { delegate: TestKey; grant: string }
  | { self: TestKey };

export const admin = (key: TestKey, ...cosign: TestKey[]): By => ({ admin: key, cosign });
export const delegate = (key: TestKey, grant: string): By => ({ delegate: key, grant });
export const self = (key: TestKey): By => ({ self: key });

/** Overrides for building deliberately wrong events. */
export interface DraftOptions {
  /** Event time (Unix seconds or text); default `h.now`. */
  time?: number | string;
  /** Chain fields; default from the subject's head. */
  seq?: number;
  prev?: string;
  /** Replaces the signers the role implies. */
  signers?: TestKey[];
  /** Signs with these too. */
  extraSigners?: TestKey[];
}

export interface Entry {
  index: number;
  envelope: Envelope;
  leaf: Uint8Array;
  leafHash: Uint8Array;
  result: ApplyResult;
}

const NO_PREV = toBase64(new Uint8Array(32));

export const DAY = 86400;

export class History {
  readonly state = new MemoryState();
  readonly entries: Entry[] = [];
  /** The time builders stamp on events, Unix seconds. Move it with `tick` or by assignment. */
  now: number;

  constructor(opts: { start?: number } = {}) {
    this.now = opts.start ?? 1_800_000_000;
  }

  tick(seconds = 1): this {
    this.now += seconds;
    return this;
  }

  /** The deterministic invite secret of an account (32 bytes). */
  inviteSecret(org: string, account: string): Uint8Array {
    return sha256(utf8(`trustlog test invite:${org}/${account}`));
  }

  /** Parses, applies and records an envelope; throws the policy's TrustlogError on refusal. */
  append(envelope: Envelope, ctx: { now?: number; skewSeconds?: number; limits?: PolicyLimits } = {}): Entry {
    const parsed = parseEnvelope(envelope);
    const index = this.entries.length;
    const result = this.state.apply(parsed.envelope, { index, leafHash: parsed.leafHash, ...ctx });
    const entry = { index, envelope: parsed.envelope, leaf: parsed.leaf, leafHash: parsed.leafHash, result };
    this.entries.push(entry);
    return entry;
  }

  /**
   * Expects the envelope to be refused (by parsing or by the policy); checks the state is
   * unchanged and returns the error. Throws a plain Error when it was accepted.
   */
  refuse(
    envelope: Envelope,
    ctx: { now?: number; skewSeconds?: number; limits?: PolicyLimits } = {},
  ): TrustlogError {
    const before = JSON.stringify(this.state.toJSON());
    try {
      this.append(envelope, ctx);
    } catch (e) {
      if (!isTrustlogError(e)) throw e;
      if (JSON.stringify(this.state.toJSON()) !== before)
        throw new Error(`state changed on refusal ${e.code}`);
      return e;
    }
    throw new Error(`${envelope.event.type} on ${envelope.event.subject} was accepted`);
  }

  /** The subject's head, if it exists. */
  head(org: string, account?: string): Head | undefined {
    return account === undefined ? this.state.org(org)?.head : this.state.account(org, account)?.head;
  }

  // -- builders ------------------------------------------------------------------------------

  orgCreate(
    org: string,
    f: { admins: TestKey[]; threshold?: number; name?: string; by?: TestKey } & DraftOptions,
  ): Envelope {
    const actor = f.by ?? f.admins[0]!;
    const threshold = f.threshold ?? 1;
    // Default signers: the actor plus enough further admins to meet the threshold.
    const implied = [actor, ...f.admins.filter((a) => a !== actor).slice(0, threshold - 1)];
    const event = orgCreate({
      org,
      time: f.time ?? this.now,
      actor: { role: "admin", key: actor.pub },
      name: f.name ?? org,
      admins: f.admins.map((a) => a.pub),
      threshold,
    });
    return this.seal(event, implied, f);
  }

  adminAdd(org: string, key: TestKey, by: By, o: DraftOptions = {}): Envelope {
    const ev = adminAdd({ ...this.fields(org, undefined, by, o), key: key.pub });
    return this.seal(ev, [...signersOf(by), key], o);
  }

  adminRemove(org: string, key: TestKey, by: By, o: DraftOptions = {}): Envelope {
    return this.seal(adminRemove({ ...this.fields(org, undefined, by, o), key: key.pub }), signersOf(by), o);
  }

  grantIssue(
    org: string,
    g: {
      id: string;
      delegate: TestKey;
      ops: EventType[];
      accounts?: string[];
      notBefore?: number;
      notAfter?: number;
      note?: string;
      attestation?: string;
    },
    by: By,
    o: DraftOptions = {},
  ): Envelope {
    const ev = grantIssue({
      ...this.fields(org, undefined, by, o),
      id: g.id,
      delegate: g.delegate.pub,
      ops: g.ops,
      accounts: g.accounts ?? ["*"],
      notBefore: g.notBefore ?? this.now,
      notAfter: g.notAfter ?? this.now + 30 * DAY,
      note: g.note ?? "",
      ...(g.attestation !== undefined ? { attestation: g.attestation } : {}),
    });
    return this.seal(ev, signersOf(by), o);
  }

  grantRevoke(org: string, id: string, by: By, o: DraftOptions & { reason?: string } = {}): Envelope {
    const ev = grantRevoke({
      ...this.fields(org, undefined, by, o),
      id,
      reason: o.reason ?? "revoked in test",
    });
    return this.seal(ev, signersOf(by), o);
  }

  invite(
    org: string,
    account: string,
    by: By,
    o: DraftOptions & { externalId?: string; secret?: Uint8Array } = {},
  ): Envelope {
    const f = this.fields(org, account, by, o);
    const ev = accountInvite({
      org,
      subject: account,
      time: f.time,
      actor: f.actor,
      inviteSecret: o.secret ?? this.inviteSecret(org, account),
      ...(o.externalId !== undefined ? { externalId: o.externalId } : {}),
    });
    return this.seal(ev, signersOf(by), o);
  }

  /** The invite key of an account's default invite secret, as a signer (core/invite.ts). */
  inviteKey(org: string, account: string, secret?: Uint8Array): TestKey {
    const k = inviteKeyFromSecret(secret ?? this.inviteSecret(org, account));
    return { label: `invite.${org}.${account}`, seed: k.seed, pub: toBase64(k.publicKey), x25519: "" };
  }

  /**
   * Adds `key` to an account. For an invited account the default is the first-key form (signed
   * by the new key, co-signed by the invite key); otherwise pass `by: self(existingSignKey)`.
   * `inviteSecret: null` leaves the invite signature out; another secret signs with its key.
   * `use: "encrypt"` adds the key's X25519 stand-in, vouched for by `by` alone.
   */
  keyAdd(
    org: string,
    account: string,
    key: TestKey,
    o: DraftOptions & {
      id?: string;
      use?: "sign" | "encrypt";
      by?: By;
      inviteSecret?: Uint8Array | null;
    } = {},
  ): Envelope {
    const use = o.use ?? "sign";
    const invited = this.state.account(org, account)?.status === "invited";
    const by = o.by ?? self(key);
    // The invite key co-signs the first-key form only (the new key signing for itself), unless a
    // test passes a secret on purpose.
    const secret =
      o.inviteSecret === undefined
        ? invited && o.by === undefined
          ? this.inviteSecret(org, account)
          : undefined
        : o.inviteSecret;
    const ev = keyAdd({
      ...this.fields(org, account, by, o),
      subject: account,
      key: {
        id: o.id ?? key.label,
        alg: use === "sign" ? "ed25519" : "x25519",
        use,
        pub: use === "sign" ? key.pub : key.x25519,
      },
    });
    const signers = use === "sign" ? [...signersOf(by), key] : signersOf(by);
    if (secret) signers.push(this.inviteKey(org, account, secret));
    return this.seal(ev, signers, o);
  }

  keyRevoke(
    org: string,
    account: string,
    keyId: string,
    by: By,
    o: DraftOptions & { reason?: string } = {},
  ): Envelope {
    const ev = keyRevoke({
      ...this.fields(org, account, by, o),
      subject: account,
      keyId,
      reason: o.reason ?? "revoked in test",
    });
    return this.seal(ev, signersOf(by), o);
  }

  suspend(org: string, account: string, by: By, o: DraftOptions & { reason?: string } = {}): Envelope {
    return this.status(accountSuspend, org, account, by, o);
  }

  reactivate(org: string, account: string, by: By, o: DraftOptions & { reason?: string } = {}): Envelope {
    return this.status(accountReactivate, org, account, by, o);
  }

  delete(org: string, account: string, by: By, o: DraftOptions & { reason?: string } = {}): Envelope {
    return this.status(accountDelete, org, account, by, o);
  }

  // -- internals -----------------------------------------------------------------------------

  private status(
    build: typeof accountSuspend | typeof accountReactivate | typeof accountDelete,
    org: string,
    account: string,
    by: By,
    o: DraftOptions & { reason?: string },
  ): Envelope {
    const ev = build({ ...this.fields(org, account, by, o), subject: account, reason: o.reason ?? "test" });
    return this.seal(ev, signersOf(by), o);
  }

  private fields(
    org: string,
    account: string | undefined,
    by: By,
    o: DraftOptions,
  ): EventFields & { time: number | string; actor: ActorInput } {
    const head = this.head(org, account);
    // A missing subject gets seq 1 and a zero prev, so "unknown subject" events still build.
    const seq = o.seq ?? (head ? head.seq + 1 : 1);
    const f: EventFields & { time: number | string; actor: ActorInput } = {
      org,
      seq,
      time: o.time ?? this.now,
      actor: actorOf(by),
    };
    if (account !== undefined) f.subject = account;
    if (seq > 0) f.prev = o.prev ?? head?.leafHash ?? NO_PREV;
    return f;
  }

  private seal(event: KeyEvent, implied: TestKey[], o: DraftOptions): Envelope {
    const keys = [...(o.signers ?? implied), ...(o.extraSigners ?? [])];
    return sealEvent(
      event,
      keys.map((k) => k.seed),
    );
  }
}

function actorOf(by: By): ActorInput {
  if ("admin" in by) return { role: "admin", key: by.admin.pub };
  if ("delegate" in by) return { role: "delegate", key: by.delegate.pub, grant: by.grant };
  return { role: "self", key: by.self.pub };
}

function signersOf(by: By): TestKey[] {
  if ("admin" in by) return [by.admin, ...(by.cosign ?? [])];
  if ("delegate" in by) return [by.delegate];
  return [by.self];
}
