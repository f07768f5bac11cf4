// A trustlog log held in memory and served over HTTP (checkpoint, hash tiles, entry bundles), for
// the auditing witness's tests and benchmark: test/helpers/memory-log.ts's LogCore with its
// "replay" index (each batch is closed by an index leaf whose root is the one core's LogReplayer
// computes, so the fixture stays right whatever the index trie holds and whatever breaks the
// rules), plus a scenario of real signed key events (an org, a SCIM grant, accounts). Anything
// may be appended raw, including entries that break the rules.

import { sha256 } from "@noble/hashes/sha2.js";
import { toBase64, utf8 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import type { Envelope } from "../../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../../core/event-build.js";
import { inviteKeyFromSecret } from "../../core/invite.js";
import { canonicalBytes } from "../../core/jcs.js";
import { LogCore, type ServedLog, serveLog } from "../helpers/memory-log.js";

export const T0 = 1_800_000_000;
const seed = (label: string) => sha256(utf8(label));
export const ADMIN = seed("fixture admin");
export const DELEGATE = seed("fixture delegate");
export const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));

export class AuditLog extends LogCore {
  private open = 0;
  /** The size served at /checkpoint (and the most the tiles serve); default everything. */
  published: number | undefined;
  accounts = 0;

  constructor(origin = "audit.example/log", keySeed = "fixture log") {
    super({ origin, keySeed: seed(keySeed), index: "replay" });
  }

  get size(): number {
    return this.leaves.length;
  }

  /** Appends an event (also to the oracle, which ignores what breaks the rules). */
  append(e: Envelope): number {
    this.open++;
    return this.appendEvent(canonicalBytes(e), e.event, e);
  }

  /** Appends bytes as they are (the oracle does not see them). */
  override appendRaw(leaf: Uint8Array): number {
    this.open++;
    return super.appendRaw(leaf);
  }

  /** Closes the batch with the index leaf core computes (or `root`, a lying one). */
  seal(opts: { root?: Uint8Array; time?: number } = {}): number {
    this.open = 0;
    return this.appendIndexLeaf(opts.time ?? (T0 + 5) * 1000, { root: opts.root });
  }

  note(size = this.published ?? this.size): string {
    return this.signCheckpoint(size);
  }

  proof(from: number, to = this.published ?? this.size): Uint8Array[] {
    return this.consistencyProof(from, to);
  }

  /** The org "acme" and a SCIM grant (one batch). */
  genesis(): void {
    const org = this.append(
      sealEvent(
        orgCreate({
          org: "acme",
          time: T0,
          actor: { role: "admin", key: pub(ADMIN) },
          name: "Acme",
          admins: [pub(ADMIN)],
          threshold: 1,
        }),
        [ADMIN],
      ),
    );
    this.append(
      sealEvent(
        grantIssue({
          org: "acme",
          seq: 1,
          prev: this.hash(org),
          time: T0 + 1,
          actor: { role: "admin", key: pub(ADMIN) },
          id: "scim",
          delegate: pub(DELEGATE),
          ops: ["account.invite", "account.suspend"],
          accounts: ["*"],
          notBefore: T0,
          notAfter: T0 + 10 * 86_400,
          note: "fixture",
        }),
        [ADMIN],
      ),
    );
    this.seal();
  }

  /**
   * Invites `n` more accounts and adds their first keys, sealing every `batch` events (and the
   * rest at the end, unless `sealLast` is false).
   */
  grow(n: number, batch = 100, sealLast = true): void {
    for (let i = 0; i < n; i++) {
      const a = this.accounts++;
      const secret = seed(`secret ${a}`);
      const subject = `user${a}`;
      const invite = this.append(
        sealEvent(
          accountInvite({
            org: "acme",
            subject,
            time: T0 + 2,
            actor: { role: "delegate", key: pub(DELEGATE), grant: "scim" },
            inviteSecret: secret,
          }),
          [DELEGATE],
        ),
      );
      this.append(this.firstKey(a, this.hash(invite)));
      if (this.open >= batch) this.seal();
    }
    if (this.open > 0 && sealLast) this.seal();
  }

  /** Account `a`'s first key.add (seq 1 after its invite), signed as the rules want. */
  firstKey(a: number, prev: Uint8Array, keyLabel = `key ${a}`): Envelope {
    const secret = seed(`secret ${a}`);
    const key = seed(keyLabel);
    return sealEvent(
      keyAdd({
        org: "acme",
        subject: `user${a}`,
        seq: 1,
        prev,
        time: T0 + 3,
        actor: { role: "self", key: pub(key) },
        key: { id: "k1", alg: "ed25519", use: "sign", pub: pub(key) },
      }),
      [key, inviteKeyFromSecret(secret).seed],
    );
  }

  /** Index of account `a`'s invite (accounts are grown in order after the genesis batch). */
  inviteIndex(a: number): number {
    for (let i = 0; i < this.leaves.length; i++) {
      const text = new TextDecoder().decode(this.leaves[i]!);
      if (text.includes(`"subject":"user${a}"`) && text.includes('"type":"account.invite"')) return i;
    }
    throw new Error(`no invite of user${a}`);
  }

  /** Serves /checkpoint, hash tiles and entry bundles, up to `published`. */
  serve(opts: { delayMs?: number } = {}): Promise<ServedLog> {
    return serveLog(() => ({ log: this, size: this.published ?? this.size }), {
      entries: true,
      delayMs: opts.delayMs,
    });
  }
}
