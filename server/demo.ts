// `trustlog demo`: what a provisioning service does, against a running log over plain HTTP.
// An admin creates an org and grants a provisioning delegate (think SCIM bridge) the right to
// invite; the delegate invites accounts; each account enrols its own key with the invite
// secret. Finally the delegate tries to add a key itself, and the log refuses.

import { randomBytes } from "node:crypto";
import { toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { type Envelope, parseEnvelope } from "../core/event.js";
import { accountInvite, grantIssue, keyAdd, orgCreate, sealEvent } from "../core/event-build.js";
import { inviteKeyFromSecret } from "../core/invite.js";

export interface DemoOptions {
  logUrl: string;
  accounts?: number;
  org?: string;
  print?: (line: string) => void;
  /** Milliseconds since the epoch (event times). */
  clock?: () => number;
  /** A writer's bearer token, for a log that requires one (`trustlog token add`). */
  token?: string;
}

export interface DemoEvent {
  label: string;
  type: string;
  subject: string;
  index: number;
  leafHash: string;
  inclusion: string[];
  /** The signed checkpoint the inclusion proof is against. */
  checkpoint: string;
}

export interface DemoSummary {
  logUrl: string;
  org: string;
  events: DemoEvent[];
  /** The refusal the last step provokes: code and HTTP status. */
  refused: { code: string; status: number };
}

const seed = () => new Uint8Array(randomBytes(32));
const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));
const leafHashOf = (e: Envelope) => parseEnvelope(e).leafHash;

export async function runDemo(opts: DemoOptions): Promise<DemoSummary> {
  const print = opts.print ?? (() => {});
  const now = Math.floor((opts.clock ?? Date.now)() / 1000);
  const base = opts.logUrl.replace(/\/+$/, "");
  const org = opts.org ?? `demo-${randomBytes(4).toString("hex")}`;
  const events: DemoEvent[] = [];

  async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${base}/v1/events`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function submit(labelled: { label: string; envelope: Envelope }[]): Promise<void> {
    const batch = labelled.length > 1;
    const { status, json } = await post(
      batch ? { events: labelled.map((l) => l.envelope) } : labelled[0]!.envelope,
    );
    if (status !== 200) throw new Error(`log answered ${status}: ${JSON.stringify(json.error ?? json)}`);
    const results = json.results as (
      | { index: number; leafHash: string; inclusion: string[] }
      | { error: unknown }
    )[];
    labelled.forEach((l, i) => {
      const r = results[i]!;
      if ("error" in r) throw new Error(`${l.label} refused: ${JSON.stringify(r.error)}`);
      const ev = l.envelope.event;
      events.push({
        label: l.label,
        type: ev.type,
        subject: ev.subject,
        index: r.index,
        leafHash: r.leafHash,
        inclusion: r.inclusion,
        checkpoint: json.checkpoint as string,
      });
      print(`  #${r.index} ${ev.type} ${ev.subject}: ${l.label}`);
    });
    const size = (json.checkpoint as string).split("\n")[1];
    print(`  (committed under the signed checkpoint of size ${size})`);
  }

  const admin = seed();
  const delegate = seed();
  const grantId = "scim-bridge-1";

  print(`org ${org}: created by one admin (${pub(admin)})`);
  const create = sealEvent(
    orgCreate({
      org,
      time: now,
      actor: { role: "admin", key: pub(admin) },
      name: `Demo ${org}`,
      admins: [pub(admin)],
      threshold: 1,
    }),
    [admin],
  );
  await submit([{ label: "org created", envelope: create }]);

  print(
    `grant ${grantId}: the admin lets a provisioning delegate (${pub(delegate)}) invite and manage accounts`,
  );
  const grant = sealEvent(
    grantIssue({
      org,
      seq: 1,
      prev: leafHashOf(create),
      time: now,
      actor: { role: "admin", key: pub(admin) },
      id: grantId,
      delegate: pub(delegate),
      ops: ["account.invite", "account.suspend", "account.reactivate", "account.delete", "key.revoke"],
      accounts: ["*"],
      notBefore: now - 60,
      notAfter: now + 30 * 86400,
      note: "trustlog demo provisioning service",
    }),
    [admin],
  );
  await submit([{ label: "grant issued", envelope: grant }]);

  const people = Array.from({ length: opts.accounts ?? 3 }, (_, i) => ({
    id: `user${i + 1}@${org}.example`,
    secret: seed(),
    key: seed(),
  }));
  if (people.length === 0) {
    return { logUrl: base, org, events, refused: { code: "NONE", status: 0 } };
  }

  print(`invites: the delegate invites ${people.length} accounts in one batch`);
  const invites = people.map((p) =>
    sealEvent(
      accountInvite({
        org,
        subject: p.id,
        time: now,
        actor: { role: "delegate", key: pub(delegate), grant: grantId },
        externalId: p.id.split("@")[0]!,
        inviteSecret: p.secret,
      }),
      [delegate],
    ),
  );
  await submit(invites.map((envelope, i) => ({ label: `invited ${people[i]!.id}`, envelope })));

  print("keys: each account adds its own signing key, co-signed by its invite key");
  const adds = people.map((p, i) =>
    sealEvent(
      keyAdd({
        org,
        subject: p.id,
        seq: 1,
        prev: leafHashOf(invites[i]!),
        time: now,
        actor: { role: "self", key: pub(p.key) },
        key: { id: "sign-1", alg: "ed25519", use: "sign", pub: pub(p.key) },
      }),
      // The invite key, derived from the secret the invitation carried, co-signs the first key.
      [p.key, inviteKeyFromSecret(p.secret).seed],
    ),
  );
  await submit(adds.map((envelope, i) => ({ label: `${people[i]!.id} added key sign-1`, envelope })));

  print("attack: the delegate tries to add a key of its choosing to the first account");
  const rogue = seed();
  const hijack = sealEvent(
    keyAdd({
      org,
      subject: people[0]!.id,
      seq: 2,
      prev: leafHashOf(adds[0]!),
      time: now,
      actor: { role: "delegate", key: pub(delegate), grant: grantId },
      key: { id: "sign-2", alg: "ed25519", use: "sign", pub: pub(rogue) },
    }),
    [delegate, rogue],
  );
  const { status, json } = await post(hijack);
  const error = json.error as { code: string; message: string } | undefined;
  print(`  refused with ${status} ${error?.code}: ${error?.message}`);
  return { logUrl: base, org, events, refused: { code: error?.code ?? "ACCEPTED", status } };
}
