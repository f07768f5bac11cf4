// The demo bridge of `npm start`: an org ("demo"), an admin key and the bridge's grant on the
// local log, then a bridge on the embedded database at http://127.0.0.1:8090/scim/v2 with a
// development token printed and written to <data>/scim/token. Everything is created once and
// reused on the next start (keys and token in the data directory, org and grant in the log).

import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogClient } from "../client/log-client.js";
import { fromBase64, toBase64 } from "../core/bytes.js";
import { ed25519 } from "../core/ed25519.js";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { grantIssue, orgCreate, sealEvent } from "../core/event-build.js";
import { parseScimConfig } from "./config.js";
import { REQUIRED_OPS } from "./grant.js";
import { ensureDelegateKey, type RunningScim, startScim } from "./main.js";

export interface DemoBridgeOptions {
  dataDir: string;
  logUrl: string;
  logKey: string;
  witnesses: string[];
  host: string;
  port: number;
  org?: string;
  logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

function seedFile(file: string): Uint8Array {
  if (!existsSync(file))
    writeFileSync(file, `${toBase64(new Uint8Array(randomBytes(32)))}\n`, { mode: 0o600, flag: "wx" });
  return fromBase64(readFileSync(file, "utf8").trim());
}

export async function startDemoBridge(
  o: DemoBridgeOptions,
): Promise<{ bridge: RunningScim; token: string; tokenFile: string; org: string }> {
  const dir = join(o.dataDir, "scim");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const org = o.org ?? "demo";
  const grantId = "scim-demo";
  const admin = seedFile(join(dir, "admin.key"));
  const adminPub = toBase64(ed25519().publicKey(admin));
  const delegate = ensureDelegateKey(join(dir, "delegate.key")).publicKey;
  const log = new LogClient(o.logUrl);
  const now = Math.floor(Date.now() / 1000);
  let state: {
    head?: { seq: number; leafHash: string };
    grants?: Record<string, { revokedIndex?: number; notAfter?: string }>;
  };
  try {
    state = (await log.org(org)) as typeof state;
  } catch (e) {
    if (!isTrustlogError(e, "NOT_FOUND")) throw e;
    const r = await log.submit(
      sealEvent(
        orgCreate({
          org,
          time: now,
          actor: { role: "admin", key: adminPub },
          name: "Demo org (npm start)",
          admins: [adminPub],
          threshold: 1,
        }),
        [admin],
      ),
    );
    state = { head: { seq: 0, leafHash: r.result.leafHash }, grants: {} };
  }
  const grants = state.grants ?? {};
  const existing = grants[grantId];
  if (existing?.revokedIndex !== undefined)
    throw new TrustlogError(
      "GRANT_REVOKED",
      `the demo grant ${grantId} was revoked; start on a fresh data directory`,
    );
  if (!existing) {
    await log.submit(
      sealEvent(
        grantIssue({
          org,
          seq: state.head!.seq + 1,
          prev: state.head!.leafHash,
          time: now,
          actor: { role: "admin", key: adminPub },
          id: grantId,
          delegate,
          ops: [...REQUIRED_OPS],
          accounts: ["*"],
          notBefore: now - 60,
          notAfter: now + 10 * 365 * 86400,
          note: "npm start demo SCIM bridge",
        }),
        [admin],
      ),
    );
  }
  const bridge = await startScim(
    parseScimConfig({
      host: o.host,
      port: o.port,
      dataDir: dir,
      logUrl: o.logUrl,
      logKey: o.logKey,
      witnesses: o.witnesses,
      unsafeNoWitness: o.witnesses.length === 0,
      org,
      grantId,
      logLevel: o.logLevel ?? "info",
    }),
  );
  const tokenFile = join(dir, "token");
  let token: string;
  if (existsSync(tokenFile)) token = readFileSync(tokenFile, "utf8").trim();
  else {
    token = await bridge.tokens.create(`dev-${Date.now()}`);
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  }
  return { bridge, token, tokenFile, org };
}
