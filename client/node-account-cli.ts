// Admin and invitee subcommands of `trustlog` (Node only):
//   trustlog admin keygen --out FILE                      an admin's Ed25519 key (base64 seed, 0600)
//   trustlog admin org-create --log URL --org O --admin-key FILE [--name N]
//   trustlog admin grant --log URL --org O --admin-key FILE --id G --delegate B64 --ops … --accounts … [--days N]
//   trustlog admin revoke-grant --log URL --org O --admin-key FILE --id G [--reason R]
//   trustlog account accept --log URL --org O --account A --invite-secret B64 [--key-file FILE]
// The admin commands sign with one admin key (orgs of threshold 1); `account accept` is the
// invitee's side of an invitation: it derives the invite key from the secret, makes the
// account's signing key (written to --key-file before anything is sent) and submits the first
// key.add, signed by the new key and co-signed by the invite key (docs/events.md §5).

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Command } from "commander";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { TrustlogError } from "../core/errors.js";
import type { EventType } from "../core/event.js";
import { grantIssue, grantRevoke, keyAdd, orgCreate, sealEvent } from "../core/event-build.js";
import { inviteKeyFromSecret } from "../core/invite.js";
import { LogClient } from "./log-client.js";

function readSeed(file: string): Uint8Array {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new TrustlogError("BAD_FLAG", `cannot read key file ${file}: ${(e as Error).message}`);
  }
  const seed = fromBase64(text);
  if (seed.length !== 32) throw new TrustlogError("BAD_KEY", `${file} does not hold a 32-byte base64 seed`);
  return seed;
}

function writeSeed(file: string, seed: Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${toBase64(seed)}\n`, { mode: 0o600, flag: "wx" });
}

const pub = (seed: Uint8Array) => toBase64(ed25519().publicKey(seed));
const now = () => Math.floor(Date.now() / 1000);

async function orgHead(client: LogClient, org: string): Promise<{ seq: number; leafHash: string }> {
  const o = (await client.org(org)) as { head?: { seq: number; leafHash: string } };
  if (!o.head) throw new TrustlogError("BAD_RESPONSE", `the log gave no head for org ${org}`);
  return o.head;
}

function logFlags(cmd: Command): Command {
  return cmd
    .requiredOption("--log <url>", "base URL of the log")
    .option("--token <token>", "the log's write token, when it requires one (env TRUSTLOG_TOKEN)");
}

const client = (f: { log: string; token?: string }) => {
  const token = f.token ?? process.env.TRUSTLOG_TOKEN;
  return new LogClient(f.log, token ? { token } : {});
};

export function registerAccountCommands(program: Command): void {
  const admin = program.command("admin").description("org admin actions signed with an admin key");

  admin
    .command("keygen")
    .description("write a new admin key (base64 Ed25519 seed, mode 0600) and print its public key")
    .requiredOption("--out <file>", "where to write it (refuses to overwrite)")
    .action((f: { out: string }) => {
      const seed = new Uint8Array(randomBytes(32));
      writeSeed(f.out, seed);
      process.stdout.write(`${pub(seed)}\n`);
    });

  logFlags(admin.command("org-create").description("create an org with this admin (threshold 1)"))
    .requiredOption("--org <org>", "org id")
    .requiredOption("--admin-key <file>", "admin key file")
    .option("--name <name>", "org name")
    .action(async (f: { log: string; token?: string; org: string; adminKey: string; name?: string }) => {
      const seed = readSeed(f.adminKey);
      const env = sealEvent(
        orgCreate({
          org: f.org,
          time: now(),
          actor: { role: "admin", key: pub(seed) },
          name: f.name ?? f.org,
          admins: [pub(seed)],
          threshold: 1,
        }),
        [seed],
      );
      const { result } = await client(f).submit(env);
      process.stdout.write(`org ${f.org} created at index ${result.index}; genesis ${result.leafHash}\n`);
    });

  logFlags(admin.command("grant").description("issue a grant to a delegate (e.g. a SCIM bridge's key)"))
    .requiredOption("--org <org>", "org id")
    .requiredOption("--admin-key <file>", "admin key file")
    .requiredOption("--id <id>", "grant id")
    .requiredOption("--delegate <b64>", "the delegate's public key (printed by `trustlog scim init`)")
    .requiredOption(
      "--ops <list>",
      "comma-separated ops: account.invite,account.suspend,account.reactivate,account.delete[,key.revoke]",
    )
    .option("--accounts <list>", "'*' or comma-separated account id prefixes", "*")
    .option("--days <n>", "validity in days from now", "365")
    .option("--note <text>", "note", "SCIM provisioning bridge")
    .option("--attestation <text>", "free text for the issuer (e.g. the SCIM configuration)")
    .action(
      async (f: {
        log: string;
        token?: string;
        org: string;
        adminKey: string;
        id: string;
        delegate: string;
        ops: string;
        accounts: string;
        days: string;
        note: string;
        attestation?: string;
      }) => {
        const seed = readSeed(f.adminKey);
        const days = Number(f.days);
        if (!Number.isFinite(days) || days <= 0)
          throw new TrustlogError("BAD_FLAG", "--days must be positive");
        const c = client(f);
        const head = await orgHead(c, f.org);
        const t = now();
        const env = sealEvent(
          grantIssue({
            org: f.org,
            seq: head.seq + 1,
            prev: head.leafHash,
            time: t,
            actor: { role: "admin", key: pub(seed) },
            id: f.id,
            delegate: f.delegate,
            ops: f.ops.split(",").map((s) => s.trim()) as EventType[],
            accounts: f.accounts.split(",").map((s) => s.trim()),
            notBefore: t - 60,
            notAfter: t + Math.round(days * 86400),
            note: f.note,
            ...(f.attestation ? { attestation: f.attestation } : {}),
          }),
          [seed],
        );
        const { result } = await c.submit(env);
        process.stdout.write(
          `grant ${f.id} issued at index ${result.index}, valid until ${env.event.type === "grant.issue" ? env.event.body.notAfter : ""}\n`,
        );
      },
    );

  logFlags(admin.command("revoke-grant").description("revoke a grant"))
    .requiredOption("--org <org>", "org id")
    .requiredOption("--admin-key <file>", "admin key file")
    .requiredOption("--id <id>", "grant id")
    .option("--reason <text>", "reason", "revoked by an admin")
    .action(
      async (f: {
        log: string;
        token?: string;
        org: string;
        adminKey: string;
        id: string;
        reason: string;
      }) => {
        const seed = readSeed(f.adminKey);
        const c = client(f);
        const head = await orgHead(c, f.org);
        const env = sealEvent(
          grantRevoke({
            org: f.org,
            seq: head.seq + 1,
            prev: head.leafHash,
            time: now(),
            actor: { role: "admin", key: pub(seed) },
            id: f.id,
            reason: f.reason,
          }),
          [seed],
        );
        const { result } = await c.submit(env);
        process.stdout.write(`grant ${f.id} revoked at index ${result.index}\n`);
      },
    );

  const account = program.command("account").description("an account holder's actions");
  logFlags(
    account
      .command("accept")
      .description("accept an invitation: make the account's key and add it to the log"),
  )
    .option("--log-key <vkey>", "the log's vkey (printed in the invitation; for verify-key afterwards)")
    .requiredOption("--org <org>", "org id")
    .requiredOption("--account <account>", "account id")
    .requiredOption("--invite-secret <b64>", "the invitation's secret")
    .option("--key-id <id>", "the new key's id", "sign-1")
    .option("--key-file <file>", "where to keep the account's signing key (default ./<account>.key)")
    .option("--json", "print the result as JSON")
    .action(
      async (f: {
        log: string;
        token?: string;
        logKey?: string;
        org: string;
        account: string;
        inviteSecret: string;
        keyId: string;
        keyFile?: string;
        json?: boolean;
      }) => {
        const invite = inviteKeyFromSecret(fromBase64(f.inviteSecret));
        const c = client(f);
        const a = (await c.account(f.org, f.account)) as {
          status?: string;
          inviteKey?: string;
          head?: { seq: number; leafHash: string };
        };
        if (a.inviteKey !== undefined && a.inviteKey !== toBase64(invite.publicKey))
          throw new TrustlogError("INVITE_MISMATCH", "this secret is not the account's invitation");
        if (a.status !== "invited" || !a.head)
          throw new TrustlogError(
            "WRONG_STATE",
            `account ${f.account} is ${a.status ?? "unknown"}, not invited`,
          );
        const keyFile = f.keyFile ?? `./${f.account}.key`;
        // Reuse a key written by an earlier, interrupted run; never overwrite another one.
        const seed = existsSync(keyFile) ? readSeed(keyFile) : new Uint8Array(randomBytes(32));
        if (!existsSync(keyFile)) writeSeed(keyFile, seed);
        const env = sealEvent(
          keyAdd({
            org: f.org,
            subject: f.account,
            seq: a.head.seq + 1,
            prev: a.head.leafHash,
            time: now(),
            actor: { role: "self", key: pub(seed) },
            key: { id: f.keyId, alg: "ed25519", use: "sign", pub: pub(seed) },
          }),
          [seed, invite.seed],
        );
        const { result } = await c.submit(env);
        const out = {
          ok: true,
          org: f.org,
          account: f.account,
          keyId: f.keyId,
          pub: pub(seed),
          keyFile,
          index: result.index,
        };
        if (f.json) process.stdout.write(`${JSON.stringify(out)}\n`);
        else
          process.stdout.write(
            `account ${f.account} now has key ${f.keyId} (${pub(seed)}), logged at index ${result.index}; its private key is in ${keyFile}\n`,
          );
      },
    );
}
