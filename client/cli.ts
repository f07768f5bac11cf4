// The client's subcommands of `trustlog`: verify-key, audit, monitor. Each exits 0 only when
// everything verified; a refusal prints its stable code (stderr, or the JSON with --json) and
// exits 1. Node only (file trust store, progress bar, native Ed25519).

import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { Command } from "commander";
import { isTrustlogError, TrustlogError } from "../core/errors.js";
import { progress } from "../node/progress.js";
import { audit } from "./audit.js";
import { FileTrustStore } from "./file-store.js";
import { monitor } from "./monitor.js";
import { MemoryTrustStore, type TrustStore } from "./trust-store.js";
import { verifyKey } from "./verify-key.js";
import { DEFAULT_MAX_AGE_SECONDS } from "./witness-policy.js";

interface CommonFlags {
  log: string;
  logKey: string;
  origin?: string;
  witness?: string[];
  quorum?: string;
  auditor?: string[];
  auditorQuorum?: string;
  state?: string;
  maxAge?: string;
  unsafeNoWitness?: boolean;
  unsafeEphemeralState?: boolean;
  json?: boolean;
}

/**
 * Where the trust state lives by default: $XDG_STATE_HOME/trustlog/trust-state.json, or
 * ~/.local/state/trustlog/trust-state.json (the XDG base directory default). Keeping it is what
 * turns trust on first use into trust on first use ONCE.
 */
export function defaultStatePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME?.startsWith("/") ? env.XDG_STATE_HOME : join(homedir(), ".local", "state");
  return join(base, "trustlog", "trust-state.json");
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function logOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--log <url>", "base URL of the log")
    .requiredOption("--log-key <vkey>", "the log's note verifier key")
    .option("--origin <origin>", "checkpoint origin, when it differs from the key name")
    .option("--witness <vkey>", "a witness cosignature/v1 verifier key (repeatable)", collect)
    .option("--quorum <k>", "how many of the witnesses must cosign (default: all given)")
    .option(
      "--auditor <vkey>",
      "an auditing witness's cosignature/v1 key (repeatable): its cosignature also states the log's entries obey the rules",
      collect,
    )
    .option("--auditor-quorum <k>", "how many of the auditors must cosign too (default: all given)")
    .option(
      "--max-age <seconds>",
      "how old the quorum's cosignatures may be",
      String(DEFAULT_MAX_AGE_SECONDS),
    )
    .option("--state <file>", `trust state file (default: ${defaultStatePath()})`)
    .option(
      "--unsafe-no-witness",
      "accept checkpoints no witness cosigned: the log alone could then show you a forked or stale view",
    )
    .option(
      "--unsafe-ephemeral-state",
      "keep the trust state in memory only: every run trusts the log on first use again",
    );
}

function common(flags: CommonFlags) {
  const witnesses = flags.witness ?? [];
  const auditors = flags.auditor ?? [];
  const auditorQuorum = flags.auditorQuorum === undefined ? auditors.length : Number(flags.auditorQuorum);
  if (!Number.isSafeInteger(auditorQuorum))
    throw new TrustlogError("BAD_FLAG", "--auditor-quorum must be an integer");
  if (witnesses.length === 0 && auditors.length === 0 && !flags.unsafeNoWitness) {
    throw new TrustlogError(
      "NO_WITNESS_POLICY",
      "no witness policy: pass the witnesses' keys with --witness <vkey> (and --quorum <k>), or --unsafe-no-witness to accept what the log alone signed",
    );
  }
  const quorum = flags.quorum === undefined ? witnesses.length : Number(flags.quorum);
  if (!Number.isSafeInteger(quorum)) throw new TrustlogError("BAD_FLAG", "--quorum must be an integer");
  if (witnesses.length > 0 && quorum < 1 && auditors.length === 0 && !flags.unsafeNoWitness)
    throw new TrustlogError(
      "NO_WITNESS_POLICY",
      "--quorum 0 accepts unwitnessed checkpoints; add --unsafe-no-witness to mean it",
    );
  const maxAgeSeconds = Number(flags.maxAge ?? DEFAULT_MAX_AGE_SECONDS);
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 1)
    throw new TrustlogError("BAD_FLAG", "--max-age must be a whole number of seconds, at least 1");
  let store: TrustStore;
  let statePath: string | undefined;
  if (flags.unsafeEphemeralState) store = new MemoryTrustStore();
  else {
    statePath = flags.state ?? defaultStatePath();
    mkdirSync(dirname(statePath), { recursive: true, mode: 0o700 });
    store = new FileTrustStore(statePath);
  }
  const log = { url: flags.log, vkey: flags.logKey, ...(flags.origin ? { origin: flags.origin } : {}) };
  const audit = auditors.length > 0 ? { auditors, auditorQuorum } : {};
  return { log, witnesses, quorum, ...audit, store, maxAgeSeconds, statePath };
}

/** Refusals that mean the command was called wrongly (exit 2) rather than a failed check (1). */
const USAGE_CODES = new Set(["NO_WITNESS_POLICY", "BAD_FLAG", "BAD_POLICY"]);

/** Prints a refusal and sets a failing exit code; rethrows what is not a TrustlogError. */
function fail(e: unknown, json: boolean | undefined): void {
  if (!isTrustlogError(e)) throw e;
  if (USAGE_CODES.has(e.code)) {
    process.stderr.write(`trustlog: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
    return;
  }
  if (json)
    process.stdout.write(
      `${JSON.stringify({ ok: false, error: { code: e.code, message: e.message, ...e.details } })}\n`,
    );
  else process.stderr.write(`trustlog: ${e.code}: ${e.message}\n`);
  process.exitCode = 1;
}

/** Registers the client's subcommands on the `trustlog` program. */
export function registerClientCommands(program: Command): void {
  logOptions(program.command("verify-key").description("verify an account's keys before trusting them"))
    .requiredOption("--org <org>", "org id")
    .requiredOption("--account <account>", "account id")
    .option("--key <b64>", "public key that must be active on the account")
    .option("--genesis <b64>", "pinned leaf hash of the org's creation")
    .option("--allow-inactive", "report a suspended, deleted or invited account instead of failing")
    .option("--json", "print the result as JSON")
    .action(
      async (
        flags: CommonFlags & {
          org: string;
          account: string;
          key?: string;
          genesis?: string;
          allowInactive?: boolean;
        },
      ) => {
        try {
          const c = common(flags);
          const r = await verifyKey({
            ...c,
            org: flags.org,
            account: flags.account,
            ...(flags.key ? { key: flags.key } : {}),
            ...(flags.genesis ? { pinnedGenesis: flags.genesis } : {}),
            ...(flags.allowInactive ? { allowInactive: true } : {}),
          });
          if (r.genesisFirstUse) {
            process.stderr.write(
              `trustlog: warning: first use of org ${r.org}: its genesis ${r.genesis} is now pinned${c.statePath ? ` in ${c.statePath}` : " for this run only"} on trust; check it out of band and pin it with --genesis ${r.genesis}\n`,
            );
          }
          if (flags.json) {
            process.stdout.write(`${JSON.stringify({ ok: true, ...r })}\n`);
          } else {
            process.stdout.write(
              `verified ${r.org}/${r.account} (${r.status}) at checkpoint ${r.checkpoint.size}, cosigned by ${r.cosigners.join(", ") || "no witness"}\n`,
            );
            for (const st of r.statements)
              process.stdout.write(
                `  relied on ${st.statement} (${st.quorum} required): ${st.witnesses.join(", ") || "none"}\n`,
              );
            for (const k of r.status === "active" ? r.keys : r.unrevokedKeys)
              process.stdout.write(
                `  ${k.id} ${k.alg} ${k.use} ${k.pub}${r.status === "active" ? "" : ` (${r.status})`}\n`,
              );
          }
        } catch (e) {
          fail(e, flags.json);
        }
      },
    );

  logOptions(program.command("audit").description("replay the whole log and re-check every entry"))
    .option("--no-progress", "no progress bar")
    .option("--json", "print the result as JSON")
    .action(async (flags: CommonFlags & { progress: boolean }) => {
      const bar = progress({ label: "audit", unit: "entries", enabled: flags.progress });
      try {
        const r = await audit({ ...common(flags), onProgress: (done, total) => bar.update(done, total) });
        bar.stop();
        const { state: _state, ...report } = r;
        const ok = r.violations.length === 0;
        if (flags.json) process.stdout.write(`${JSON.stringify({ ok, ...report })}\n`);
        else {
          for (const v of r.violations)
            process.stdout.write(`violation at entry ${v.index}: ${v.policyCode ?? v.code}: ${v.message}\n`);
          process.stdout.write(
            `audited ${r.entries} entries (${r.events} events, ${r.indexLeaves} index leaves, ${r.orgs} orgs) up to checkpoint ${r.checkpoint.size} in ${r.seconds.toFixed(2)} s: ${Math.round(r.rate)} entries/s; ${ok ? "no violation" : `${r.violations.length} violation(s)`}\n`,
          );
        }
        if (!ok) process.exitCode = 1;
      } catch (e) {
        bar.stop();
        fail(e, flags.json);
      }
    });

  logOptions(program.command("monitor").description("follow an org or an account and report every new event"))
    .requiredOption("--org <org>", "org id")
    .option("--account <account>", "account id (default: the whole org)")
    .option("--interval <s>", "seconds between polls", "10")
    .option("--once", "check once and exit")
    .option("--json", "one JSON object per line")
    .action(
      async (flags: CommonFlags & { org: string; account?: string; interval: string; once?: boolean }) => {
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        try {
          await monitor({
            ...common(flags),
            org: flags.org,
            ...(flags.account ? { account: flags.account } : {}),
            intervalSeconds: Number(flags.interval),
            once: flags.once ?? false,
            signal: stop.signal,
            onEvent: (e) => {
              if (flags.json) process.stdout.write(`${JSON.stringify(e)}\n`);
              else {
                const flagText = e.flags.length ? `  [${e.flags.join(", ")}]` : "";
                const by = e.role === "delegate" ? `delegate (grant ${e.grant})` : e.role;
                process.stdout.write(
                  `#${e.index} ${e.time} ${e.subject} ${e.type} seq ${e.seq} by ${by}${flagText}\n`,
                );
              }
            },
            onCheckpoint: (size) => {
              if (!flags.json) process.stderr.write(`checkpoint ${size} verified\n`);
            },
          });
        } catch (e) {
          fail(e, flags.json);
        } finally {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
        }
      },
    );
}
