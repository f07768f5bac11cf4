// Provisioner: what a SCIM bridge (or any provisioning service acting under a grant) needs to
// write to the log. It builds grant-scoped events with core's builders, signs them with the
// delegate key, tracks each subject's chain head, and submits with retries:
//   - 409 CHAIN_CONFLICT (someone else wrote to the subject): take the head from the answer,
//     rebuild and re-sign the event on it, submit again;
//   - 429/503 or an unreachable log: wait (Retry-After, else exponential backoff), bounded.
// Operations on one subject are serialised, so a bridge can fire them concurrently.
// Everything the log answers here is untrusted; clients verify what was written.

import { fromBase64, toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import type { Envelope } from "../core/event.js";
import {
  accountDelete,
  accountInvite,
  accountReactivate,
  accountSuspend,
  type Bytes,
  keyRevoke,
  sealEvent,
} from "../core/event-build.js";
import { type Fetch, LogClient } from "./log-client.js";

export interface ProvisionerOptions {
  /** Base URL of the log. */
  log: string;
  org: string;
  /** The grant the delegate acts under. */
  grantId: string;
  /** The delegate's 32-byte Ed25519 seed (or its base64). */
  delegateSeed: Uint8Array | string;
  fetch?: Fetch;
  /** The log's bearer token for this writer, when the log requires one (`trustlog token add`). */
  token?: string;
  /** Unix seconds; defaults to the system clock. */
  clock?: () => number;
  /** Attempts per operation, conflicts and pushback together (default 8). */
  maxAttempts?: number;
  /** First backoff delay in ms when the log gives no Retry-After (default 200). */
  backoffMs?: number;
}

export interface Written {
  index: number;
  leafHash: string;
  checkpoint: string;
  envelope: Envelope;
}

interface Head {
  seq: number;
  leafHash: string;
}

type Draft = (head: Head | undefined, time: number) => Envelope;

const RETRIABLE = new Set([
  "QUEUE_FULL",
  "NOT_LEADER",
  "UNAVAILABLE",
  "LOG_UNREACHABLE",
  "HTTP_502",
  "HTTP_503",
  "HTTP_504",
]);

export class Provisioner {
  private readonly client: LogClient;
  private readonly seed: Uint8Array;
  private readonly key: string;
  private readonly heads = new Map<string, Head>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: ProvisionerOptions) {
    this.client = new LogClient(opts.log, {
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.token ? { token: opts.token } : {}),
    });
    this.seed =
      typeof opts.delegateSeed === "string" ? fromBase64(opts.delegateSeed) : opts.delegateSeed.slice();
    this.key = toBase64(ed25519().publicKey(this.seed));
  }

  /** The delegate's public key (base64), as the grant must name it. */
  get publicKey(): string {
    return this.key;
  }

  private actor() {
    return { role: "delegate" as const, key: this.key, grant: this.opts.grantId };
  }

  private now(): number {
    return this.opts.clock ? this.opts.clock() : Math.floor(Date.now() / 1000);
  }

  /**
   * Invites an account. `inviteKey` is the public invite key derived from the secret the
   * invitee receives out of band (core/invite.ts inviteKeyFromSecret); the secret itself never
   * reaches the log, and whoever holds it is the only one who can add the account's first key.
   */
  invite(account: string, f: { externalId?: string; inviteKey: Bytes }): Promise<Written> {
    return this.write(account, false, (_head, time) =>
      sealEvent(
        accountInvite({
          org: this.opts.org,
          subject: account,
          time,
          actor: this.actor(),
          inviteKey: f.inviteKey,
          ...(f.externalId !== undefined ? { externalId: f.externalId } : {}),
        }),
        [this.seed],
      ),
    );
  }

  suspend(account: string, f: { reason: string; scimRequestHash?: Bytes }): Promise<Written> {
    return this.status(account, accountSuspend, f);
  }

  reactivate(account: string, f: { reason: string; scimRequestHash?: Bytes }): Promise<Written> {
    return this.status(account, accountReactivate, f);
  }

  delete(account: string, f: { reason: string; scimRequestHash?: Bytes }): Promise<Written> {
    return this.status(account, accountDelete, f);
  }

  revokeKey(account: string, keyId: string, f: { reason: string }): Promise<Written> {
    return this.write(account, true, (head, time) =>
      sealEvent(
        keyRevoke({
          org: this.opts.org,
          subject: account,
          ...chain(head),
          time,
          actor: this.actor(),
          keyId,
          reason: f.reason,
        }),
        [this.seed],
      ),
    );
  }

  private status(
    account: string,
    build: typeof accountSuspend | typeof accountReactivate | typeof accountDelete,
    f: { reason: string; scimRequestHash?: Bytes },
  ): Promise<Written> {
    return this.write(account, true, (head, time) =>
      sealEvent(
        build({
          org: this.opts.org,
          subject: account,
          ...chain(head),
          time,
          actor: this.actor(),
          reason: f.reason,
          ...(f.scimRequestHash !== undefined ? { scimRequestHash: f.scimRequestHash } : {}),
        }),
        [this.seed],
      ),
    );
  }

  // Serialises operations per subject: each waits for the previous one, failed or not.
  private write(subject: string, needsHead: boolean, draft: Draft): Promise<Written> {
    const prev = this.queues.get(subject) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(() => this.submit(subject, needsHead, draft));
    this.queues.set(subject, next);
    next
      .finally(() => {
        if (this.queues.get(subject) === next) this.queues.delete(subject);
      })
      .catch(() => {});
    return next;
  }

  private async fetchHead(subject: string): Promise<Head> {
    const a = (await this.client.account(this.opts.org, subject)) as { head?: Head };
    if (!a.head || typeof a.head.seq !== "number" || typeof a.head.leafHash !== "string") {
      throw new TrustlogError("BAD_RESPONSE", `the log gave no head for ${subject}`);
    }
    return { seq: a.head.seq, leafHash: a.head.leafHash };
  }

  private async submit(subject: string, needsHead: boolean, draft: Draft): Promise<Written> {
    const max = this.opts.maxAttempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      let head = needsHead ? this.heads.get(subject) : undefined;
      try {
        if (needsHead && head === undefined) {
          head = await this.fetchHead(subject);
          this.heads.set(subject, head);
        }
        const envelope = draft(head, this.now());
        const { result, checkpoint } = await this.client.submit(envelope);
        this.heads.set(subject, { seq: envelope.event.seq, leafHash: result.leafHash });
        return { index: result.index, leafHash: result.leafHash, checkpoint, envelope };
      } catch (e) {
        if (!isTrustlogError(e) || attempt >= max) throw e;
        if (e.code === "CHAIN_CONFLICT") {
          const h = e.details?.head as Head | undefined;
          if (h && typeof h.seq === "number" && typeof h.leafHash === "string") this.heads.set(subject, h);
          else this.heads.delete(subject);
          continue;
        }
        if (!RETRIABLE.has(e.code)) throw e;
        const retryAfter = Number(e.details?.retryAfter);
        const backoff = (this.opts.backoffMs ?? 200) * 2 ** (attempt - 1);
        await new Promise((r) =>
          setTimeout(r, Math.min(10_000, retryAfter > 0 ? retryAfter * 1000 : backoff)),
        );
      }
    }
  }
}

function chain(head: Head | undefined): { seq: number; prev: string } {
  if (!head) throw new TrustlogError("UNKNOWN_HEAD", "no chain head for the subject");
  return { seq: head.seq + 1, prev: head.leafHash };
}
