// An auditing witness process is SIGKILLed in the middle of an audit (a catch-up of thousands of
// entries, snapshots being written), then restarted on the same database. It must never have
// cosigned beyond what it audited (the database never holds a cosigned size above the audited
// one), it resumes from the snapshot it wrote mid-audit rather than from the last cosigned size
// or from 0, it re-audits the rest before cosigning anything new, and the entry that breaks a
// rule after that point is still caught: no cosignature ever covers it.

import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { equalBytes } from "../../core/bytes.js";
import { openNote } from "../../core/note.js";
import { parseVerifierKey } from "../../core/note-keys.js";
import { formatAddCheckpoint } from "../../core/witness-protocol.js";
import type { AuditStatus } from "../../witness/auditor.js";
import type { WitnessConfigInput } from "../../witness/config.js";
import { checkpointOfNote } from "../../witness/pull.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { freePort, spawnWitness, type WitnessProcess } from "../helpers/process.js";
import { AuditLog } from "./audit-fixture.js";
import { tempDir, witnessConfig, witnessKey } from "./helpers.js";

describe("an auditing witness killed in the middle of an audit", () => {
  let db: TestDatabase;
  let w: WitnessProcess | undefined;
  let served: Awaited<ReturnType<AuditLog["serve"]>>;
  const log = new AuditLog("audit.example/crash");
  const key = witnessKey("audit-crashy", 43);
  let dir: string;
  let cfg: WitnessConfigInput;
  let honest = 0; // size of the honest prefix (ends with an index leaf)
  let bad = 0; // index of the entry that breaks a rule

  beforeAll(async () => {
    db = await createTestDatabase("witness_audit_crash");
    log.genesis();
    log.grow(2500, 50);
    honest = log.size;
    const invite = log.inviteIndex(11);
    bad = log.append(log.firstKey(11, log.hash(invite), "a second first key"));
    log.seal();
    log.grow(50, 50);
    served = await log.serve({ delayMs: 15 });
    dir = tempDir();
    const base = witnessConfig({
      dir,
      key,
      logs: [],
      databaseUrl: db.url,
      port: await freePort(),
    });
    cfg = {
      ...base,
      logs: [{ origin: log.origin, vkeys: [log.vkey], url: served.url, audit: true }],
      auditSnapshotEntries: 400,
      auditChunkEntries: 256,
      auditWaitMs: 60_000,
    };
    w = await spawnWitness(dir, cfg);
  }, 120_000);

  afterAll(async () => {
    await w?.stop("SIGKILL");
    await served?.close();
    await db?.drop();
  });

  const add = async (url: string, old: number, size: number) => {
    const res = await fetch(`${url}/add-checkpoint`, {
      method: "POST",
      body: formatAddCheckpoint(old, log.proof(old, size), log.note(size)),
    });
    return { status: res.status, text: await res.text() };
  };
  const status = async (url: string): Promise<AuditStatus> =>
    ((await (await fetch(`${url}/v1/audit`)).json()) as AuditStatus[])[0]!;
  const rows = async () => {
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      const [r] = await sql`select l.size as cosigned, a.audited_size as audited, a.snapshot_size as snapshot
        from witness_logs l join witness_audit a using (origin)`;
      return { cosigned: Number(r!.cosigned), audited: Number(r!.audited), snapshot: Number(r!.snapshot) };
    } finally {
      await sql.end();
    }
  };

  it("never cosigns an entry it has not audited, and resumes from its mid-audit snapshot", async () => {
    // A first checkpoint, audited and cosigned.
    const first = 51 * 10 + 3; // genesis batch (3 entries) + 10 batches of 51
    const r1 = await add(w!.url, 0, first);
    expect(r1.status, r1.text).toBe(200);
    // Then the honest prefix in one go: a catch-up of thousands of entries, killed midway.
    const cosigned: number[] = [first];
    const inFlight = add(w!.url, first, honest).then(
      (r) => {
        if (r.status === 200) cosigned.push(honest);
        return r.status;
      },
      () => "killed",
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error("the audit never got going");
      const s = await status(w!.url);
      if (s.snapshotSize > first && s.replayedSize < honest - 512) break;
      if (s.replayedSize >= honest - 512) throw new Error("the audit finished before the kill");
      await new Promise((r) => setTimeout(r, 20));
    }
    await w!.stop("SIGKILL");
    expect(await inFlight).toBe("killed");

    const after = await rows();
    // Never a cosigned size beyond the audited one; the snapshot was written mid-audit.
    expect(after.cosigned).toBe(first);
    expect(after.cosigned).toBeLessThanOrEqual(after.audited);
    expect(after.snapshot).toBeGreaterThan(first);
    expect(after.snapshot).toBeLessThan(honest);

    served.requests.length = 0;
    w = await spawnWitness(dir, cfg);
    const resumed = await status(w.url);
    expect(resumed.resumedFrom).toBe(after.snapshot);
    expect(resumed.auditedSize).toBe(after.snapshot);

    // The honest prefix: audited from the snapshot on (nothing below it fetched), then cosigned.
    const r2 = await add(w.url, first, honest);
    expect(r2.status, r2.text).toBe(200);
    cosigned.push(honest);
    const below = Math.floor(after.snapshot / 256);
    const fetched = served.requests
      .filter((p) => p.startsWith("/tile/entries/"))
      .map((p) =>
        Number(p.slice("/tile/entries/".length).split(".")[0]!.replaceAll("x", "").replaceAll("/", "")),
      );
    expect(fetched.length).toBeGreaterThan(0);
    expect(Math.min(...fetched)).toBeGreaterThanOrEqual(below);

    // The rest holds a second event at an existing seq: refused, never cosigned.
    const r3 = await add(w.url, honest, log.size);
    expect(r3.status).toBe(403);
    expect(r3.text).toMatch(/^LOG_VIOLATION: entry \d+ /);
    const final = await rows();
    expect(final.cosigned).toBe(honest);
    expect(final.cosigned).toBeLessThanOrEqual(final.audited);
    expect(Math.max(...cosigned)).toBeLessThanOrEqual(bad);

    const note = await (await fetch(`${w.url}/v1/logs/${encodeURIComponent(log.origin)}/checkpoint`)).text();
    const opened = openNote(note, [parseVerifierKey(log.vkey), parseVerifierKey(key.vkey)]);
    expect(opened.verified).toHaveLength(2);
    const cp = checkpointOfNote(note);
    expect(cp.size).toBe(honest);
    expect(equalBytes(cp.root, checkpointOfNote(log.note(honest)).root)).toBe(true);
  }, 180_000);
});
