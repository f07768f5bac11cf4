// A real SCIM bridge process against a real log process (both `trustlog` children on loopback,
// each on its own fresh PostgreSQL database): an org and the bridge's grant are created by an
// admin key over the log's HTTP API, the delegate key is made as `trustlog scim init` makes it,
// the identity provider's token with `trustlog scim token create`. Optionally witnesses.

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LogClient } from "../../client/log-client.js";
import { toBase64 } from "../../core/bytes.js";
import { ed25519 } from "../../core/ed25519.js";
import type { EventType } from "../../core/event.js";
import { grantIssue, grantRevoke, orgCreate, sealEvent } from "../../core/event-build.js";
import { ensureDelegateKey } from "../../scim/main.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { runTrustlog, startTrustlog, type TrustlogProcess } from "../helpers/process.js";
import {
  type LogIdentity,
  newLogIdentity,
  startLog,
  startWitnesses,
  type Witnesses,
} from "../helpers/witnessed-log.js";

export const ALL_OPS: EventType[] = [
  "account.invite",
  "account.suspend",
  "account.reactivate",
  "account.delete",
];

export interface ScimWorld {
  dir: string;
  logId: LogIdentity;
  log: TrustlogProcess;
  logDb: TestDatabase;
  bridgeDb: TestDatabase;
  witnesses?: Witnesses;
  org: string;
  grantId: string;
  adminSeed: Uint8Array;
  delegateKey: string;
  delegateKeyFile: string;
  token: string;
  bridge?: TrustlogProcess;
  /** The args and env the bridge was started with, to restart it. */
  startBridge(extra?: string[], env?: Record<string, string>): Promise<TrustlogProcess>;
  issueGrant(id: string, ops?: EventType[], opts?: { notAfterSeconds?: number }): Promise<void>;
  revokeGrant(id: string): Promise<void>;
  scim(path: string, init?: RequestInit & { json?: unknown; token?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

const pub = (s: Uint8Array) => toBase64(ed25519().publicKey(s));

export async function scimWorld(
  opts: {
    witnesses?: number;
    grantOps?: EventType[];
    skipGrant?: boolean;
    startBridge?: boolean;
    bridgeArgs?: string[];
  } = {},
): Promise<ScimWorld> {
  const dir = mkdtempSync(join(tmpdir(), "trustlog-scim-"));
  const origin = `scim-${randomBytes(3).toString("hex")}.test/log`;
  const logId = newLogIdentity(dir, origin);
  const logDb = await createTestDatabase("scimlog");
  const bridgeDb = await createTestDatabase("scimbridge");
  let witnesses: Witnesses | undefined;
  let log: TrustlogProcess;
  if (opts.witnesses) {
    witnesses = await startWitnesses(dir, [logId], { n: opts.witnesses });
    log = await startLog(logId, logDb.url, witnesses, join(dir, "log-data"), {
      TRUSTLOG_QUORUM: String(opts.witnesses),
      TRUSTLOG_BATCH_DELAY_MS: "5",
    });
  } else {
    mkdirSync(join(dir, "log-data"));
    log = await startTrustlog([
      "serve",
      "--database-url",
      logDb.url,
      "--key-file",
      logId.keyFile,
      "--origin",
      origin,
      "--data-dir",
      join(dir, "log-data"),
      "--log-level",
      "warn",
    ]);
  }
  const client = new LogClient(log.url);
  const adminSeed = new Uint8Array(randomBytes(32));
  const org = "acme";
  const now = () => Math.floor(Date.now() / 1000);
  const created = await client.submit(
    sealEvent(
      orgCreate({
        org,
        time: now(),
        actor: { role: "admin", key: pub(adminSeed) },
        name: "Acme",
        admins: [pub(adminSeed)],
        threshold: 1,
      }),
      [adminSeed],
    ),
  );
  let orgHead = { seq: 0, leafHash: created.result.leafHash };
  const delegateKeyFile = join(dir, "bridge", "delegate.key");
  const delegateKey = ensureDelegateKey(delegateKeyFile).publicKey;
  const grantId = "scim-bridge-1";

  const world: ScimWorld = {
    dir,
    logId,
    log,
    logDb,
    bridgeDb,
    ...(witnesses ? { witnesses } : {}),
    org,
    grantId,
    adminSeed,
    delegateKey,
    delegateKeyFile,
    token: "",
    async issueGrant(id, ops = ALL_OPS, o = {}) {
      const t = now();
      const env = sealEvent(
        grantIssue({
          org,
          seq: orgHead.seq + 1,
          prev: orgHead.leafHash,
          time: t,
          actor: { role: "admin", key: pub(adminSeed) },
          id,
          delegate: delegateKey,
          ops,
          accounts: ["*"],
          notBefore: t - 60,
          notAfter: t + (o.notAfterSeconds ?? 86400),
          note: "test bridge",
        }),
        [adminSeed],
      );
      const r = await client.submit(env);
      orgHead = { seq: orgHead.seq + 1, leafHash: r.result.leafHash };
    },
    async revokeGrant(id) {
      const env = sealEvent(
        grantRevoke({
          org,
          seq: orgHead.seq + 1,
          prev: orgHead.leafHash,
          time: now(),
          actor: { role: "admin", key: pub(adminSeed) },
          id,
          reason: "test: revoked",
        }),
        [adminSeed],
      );
      const r = await client.submit(env);
      orgHead = { seq: orgHead.seq + 1, leafHash: r.result.leafHash };
    },
    async startBridge(extra = [], env = {}) {
      const policy = witnesses ? witnesses.vkeys.flatMap((v) => ["--witness", v]) : ["--unsafe-no-witness"];
      const p = await startTrustlog(
        [
          "scim",
          "serve",
          "--database-url",
          bridgeDb.url,
          "--data-dir",
          join(dir, "bridge"),
          "--delegate-key-file",
          delegateKeyFile,
          "--log-url",
          log.url,
          "--log-key",
          logId.vkey,
          "--org",
          org,
          "--grant",
          grantId,
          "--watch-interval-ms",
          "200",
          "--log-level",
          "warn",
          ...policy,
          ...extra,
        ],
        { readyPath: "/health", env, timeoutMs: 60_000 },
      );
      world.bridge = p;
      return p;
    },
    async scim(path, init = {}) {
      const { json, token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set("authorization", `Bearer ${token ?? world.token}`);
      if (json !== undefined && !headers.has("content-type"))
        headers.set("content-type", "application/scim+json");
      return fetch(`${world.bridge!.url}/scim/v2${path}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    async close() {
      await world.bridge?.stop("SIGKILL");
      await log.stop("SIGKILL");
      await witnesses?.stop();
      await logDb.drop().catch(() => {});
      await bridgeDb.drop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (!opts.skipGrant) await world.issueGrant(grantId, opts.grantOps ?? ALL_OPS);
  const t = await runTrustlog(["scim", "token", "create", "idp", "--database-url", bridgeDb.url]);
  if (t.code !== 0) throw new Error(`token create failed: ${t.stderr}`);
  world.token = t.stdout.trim();
  if (opts.startBridge !== false) await world.startBridge(opts.bridgeArgs ?? []);
  return world;
}

/** Polls `fn` until it returns a value (not undefined), or throws after `timeoutMs`. */
export async function until<T>(
  fn: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
