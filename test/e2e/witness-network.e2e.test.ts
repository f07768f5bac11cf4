// Issue 4 end to end, with real processes only: one log server (`trustlog serve`, PostgreSQL)
// and three witnesses (`trustlog witness serve`, PGlite) that gossip with each other. The log's
// checkpoints carry three valid cosignatures, checked with core/ alone. Then a forking log: a
// second log server with the same key and origin on another database is given different events
// and pushes its checkpoint to one witness. That witness catches the split view with signed
// evidence, gossip carries the evidence to the other two, and all three stop cosigning the origin.
// Every event here is posted alone, so each is one sequencer batch: the event, then the index
// leaf the log appends after every batch (DESIGN.md §4), two leaves per event.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCheckpoint } from "../../core/checkpoint.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { checkEvidence, evidenceFromJson } from "../../witness/evidence.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { History, testKey } from "../helpers/events.js";
import {
  freePort,
  runTrustlog,
  spawnWitness,
  startTrustlog,
  type TrustlogProcess,
  type WitnessProcess,
} from "../helpers/process.js";
import { tempDir, witnessKey } from "../witness/helpers.js";

const ORIGIN = "e2e.trustlog.example/forking";
const dir = tempDir("trustlog-e2e-net-");
const keyFile = join(dir, "log.key");
const root = testKey("net-root");
let logVkey = "";
const dbs: TestDatabase[] = [];
const witnesses: { proc: WitnessProcess; vkey: string; name: string; url: string }[] = [];
const logs: TrustlogProcess[] = [];

/** Event histories stamped with the real clock: the log processes check event times against it. */
const now = () => new History({ start: Math.floor(Date.now() / 1000) });

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startLog(db: TestDatabase, witnessList: typeof witnesses): Promise<TrustlogProcess> {
  const args = ["serve", "--origin", ORIGIN, "--key-file", keyFile, "--database-url", db.url];
  args.push("--data-dir", join(dir, `data-${logs.length}`), "--witness-refresh-seconds", "1");
  for (const w of witnessList) args.push("--witness", `${w.url},${w.vkey}`);
  args.push("--quorum", String(witnessList.length), "--log-level", "warn");
  const p = await startTrustlog(args, { timeoutMs: 60_000 });
  logs.push(p);
  return p;
}

/** The size of a log after `n` events posted one at a time: each followed by its index leaf. */
const sizeAfterSingles = (n: number) => 2 * n;

/**
 * Waits until the log reports that each witness refused (did not cosign) its checkpoint of
 * `size`: the log's own record of a submission and its answer, at warn level on stderr.
 */
function untilRefusedBy(log: TrustlogProcess, names: string[], size: number): Promise<string[]> {
  return until(`every witness to refuse the checkpoint of size ${size}`, async () => {
    const refusals = new Map<string, string>();
    for (const line of log.stderr().split("\n")) {
      if (!line.startsWith("{")) continue;
      const r = JSON.parse(line) as { msg?: string; witness?: string; size?: number; err?: string };
      if (r.msg === "witness did not cosign" && r.size === size && r.witness)
        refusals.set(r.witness, r.err ?? "");
    }
    return names.every((n) => refusals.has(n)) ? names.map((n) => refusals.get(n)!) : undefined;
  });
}

async function post(log: TrustlogProcess, envelope: unknown): Promise<number> {
  const res = await fetch(`${log.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(envelope),
  });
  await res.arrayBuffer();
  return res.status;
}

/** /checkpoint opened with core alone: its size, root and the witnesses whose cosignature verifies. */
async function checkpointOf(log: TrustlogProcess) {
  const text = await (await fetch(`${log.url}/checkpoint`)).text();
  const verifiers = [parseVerifierKey(logVkey), ...witnesses.map((w) => parseVerifierKey(w.vkey))];
  const opened = openNote(text, verifiers);
  const cp = parseCheckpoint(opened.body);
  return {
    ...cp,
    text,
    cosigners: opened.verified
      .map((v) => v.name)
      .filter((n) => n !== ORIGIN)
      .sort(),
  };
}

beforeAll(async () => {
  const k = await runTrustlog(["keygen", "--name", ORIGIN, "--out", keyFile]);
  expect(k.code).toBe(0);
  logVkey = k.stdout.trim();
  const ports = [await freePort(), await freePort(), await freePort()];
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const keys = ports.map((_, i) => witnessKey(`w${i}.e2e.example`, 90 + i));
  for (let i = 0; i < 3; i++) {
    const wdir = tempDir("trustlog-e2e-w-");
    writeFileSync(join(wdir, "w.key"), `${keys[i]!.skey}\n`, { mode: 0o600 });
    const proc = await spawnWitness(wdir, {
      port: ports[i]!,
      keyFile: join(wdir, "w.key"),
      dataDir: join(wdir, "pglite"),
      logs: [{ origin: ORIGIN, vkeys: [logVkey] }],
      peers: urls
        .filter((_, j) => j !== i)
        .map((url, j) => ({ url, vkey: keys.filter((_, x) => x !== i)[j]!.vkey })),
      pullIntervalSeconds: 0,
      gossipIntervalSeconds: 1,
      logLevel: "warn",
    });
    witnesses.push({ proc, vkey: keys[i]!.vkey, name: parseVerifierKey(keys[i]!.vkey).name, url: proc.url });
  }
  dbs.push(await createTestDatabase("e2e_net_a"), await createTestDatabase("e2e_net_b"));
}, 120_000);

afterAll(async () => {
  for (const l of logs) await l.stop().catch(() => {});
  for (const w of witnesses) await w.proc.stop().catch(() => {});
  for (const d of dbs) await d.drop().catch(() => {});
});

describe("a log witnessed by three gossiping witnesses", () => {
  it("publishes checkpoints that carry three valid cosignatures", async () => {
    const log = await startLog(dbs[0]!, witnesses);
    const h = now();
    expect(await post(log, h.append(h.orgCreate("acme", { admins: [root] })).envelope)).toBe(200);
    for (let i = 0; i < 3; i++)
      expect(await post(log, h.append(h.invite("acme", `u${i}`, { admin: root })).envelope)).toBe(200);
    const size = sizeAfterSingles(1 + 3);
    const cp = await until(`three cosignatures at size ${size}`, async () => {
      const c = await checkpointOf(log);
      return c.size === size && c.cosigners.length === 3 ? c : undefined;
    });
    expect(cp.cosigners).toEqual(witnesses.map((w) => w.name).sort());
    // Every witness serves the checkpoint it cosigned for gossip.
    for (const w of witnesses) {
      const res = await fetch(`${w.url}/v1/logs/${encodeURIComponent(ORIGIN)}/checkpoint`);
      expect(res.status).toBe(200);
      expect(parseCheckpoint(openNote(await res.text(), [parseVerifierKey(logVkey)]).body).size).toBe(size);
    }
  }, 120_000);

  it("catches a forking log: evidence at one witness, gossiped to all, and all stop cosigning", async () => {
    const honest = logs[0]!;
    const before = await checkpointOf(honest);
    expect(before.size).toBe(sizeAfterSingles(1 + 3));
    // Same key, same origin, another database, other events: the same size with another root.
    const fork = now();
    const forged = testKey("net-mallory");
    await post(
      await startLog(dbs[1]!, [witnesses[0]!]),
      fork.append(fork.orgCreate("acme", { admins: [forged] })).envelope,
    );
    const forkLog = logs[1]!;
    for (let i = 0; i < 3; i++)
      expect(await post(forkLog, fork.append(fork.invite("acme", `v${i}`, { admin: forged })).envelope)).toBe(
        200,
      );
    const forkCp = parseCheckpoint(
      openNote(await (await fetch(`${forkLog.url}/checkpoint`)).text(), [parseVerifierKey(logVkey)]).body,
    );
    expect(forkCp.size).toBe(before.size);
    expect(forkCp.root).not.toEqual(before.root);

    // Every witness ends up holding evidence (one by the push, two by gossip), portable: checked
    // here with core/ and the log's key alone.
    for (const w of witnesses) {
      const evidence = await until(`evidence at ${w.name}`, async () => {
        const list = (await (await fetch(`${w.url}/v1/evidence`)).json()) as unknown[];
        return list.length > 0 ? list : undefined;
      });
      const e = evidenceFromJson(evidence[0]);
      expect(e.origin).toBe(ORIGIN);
      const both = checkEvidence(e, [parseVerifierKey(logVkey)]);
      expect([both.a.size, both.b.size]).toEqual([before.size, before.size]);
    }

    // From now on no witness cosigns the origin, not even the honest log's next checkpoint.
    const other = now();
    expect(await post(honest, other.append(other.orgCreate("other", { admins: [root] })).envelope)).toBe(200);
    const after = await checkpointOf(honest);
    expect(after.size).toBe(before.size + sizeAfterSingles(1));
    // The log has submitted it to every witness, and every one refused it.
    for (const err of await untilRefusedBy(
      honest,
      witnesses.map((w) => w.name),
      after.size,
    ))
      expect(err).toMatch(/LOG_EQUIVOCATED|equivocat/i);
    expect((await checkpointOf(honest)).cosigners).toEqual([]);
    for (const w of witnesses) {
      const res = await fetch(`${w.url}/add-checkpoint`, {
        method: "POST",
        body: `old ${before.size}\n\n${after.text}`,
      });
      expect(res.status).toBe(403);
      expect(await res.text()).toMatch(/LOG_EQUIVOCATED|equivocat/i);
    }
  }, 180_000);
});
