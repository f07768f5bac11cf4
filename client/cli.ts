// The client's subcommands of `trustlog`: verify-key, audit, monitor. Each exits 0 only when
// everything verified; a refusal prints its stable code (stderr, or the JSON with --json) and
// exits 1. Node only (file trust store, progress bar, native Ed25519).

import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { isTrustlogError } from "../core/errors.js";
import { useNativeEd25519 } from "../node/ed25519-native.js";
import { audit } from "./audit.js";
import { FileTrustStore } from "./file-store.js";
import { monitor } from "./monitor.js";
import { MemoryTrustStore, type TrustStore } from "./trust-store.js";
import { verifyKey } from "./verify-key.js";

interface CommonFlags {
  log: string;
  logKey: string;
  origin?: string;
  witness?: string[];
  quorum?: string;
  state?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function logOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--log <url>", "base URL of the log")
    .requiredOption("--log-key <vkey>", "the log's note verifier key")
    .option("--origin <origin>", "checkpoint origin, when it differs from the key name")
    .option("--witness <vkey>", "a witness cosignature/v1 verifier key (repeatable)", collect)
    .option("--quorum <k>", "how many of the witnesses must cosign (default: all given)")
    .option("--state <file>", "trust state file (default: in memory, trust on first use)");
}

function common(flags: CommonFlags) {
  const witnesses = flags.witness ?? [];
  const quorum = flags.quorum === undefined ? witnesses.length : Number(flags.quorum);
  if (!Number.isSafeInteger(quorum)) throw new Error("--quorum must be an integer");
  const store: TrustStore = flags.state ? new FileTrustStore(flags.state) : new MemoryTrustStore();
  const log = { url: flags.log, vkey: flags.logKey, ...(flags.origin ? { origin: flags.origin } : {}) };
  return { log, witnesses, quorum, store };
}

/** Prints a refusal and sets a failing exit code; rethrows what is not a TrustlogError. */
function fail(e: unknown, json: boolean | undefined): void {
  if (!isTrustlogError(e)) throw e;
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
    .option("--json", "print the result as JSON")
    .action(async (flags: CommonFlags & { org: string; account: string; key?: string; genesis?: string }) => {
      useNativeEd25519();
      try {
        const r = await verifyKey({
          ...common(flags),
          org: flags.org,
          account: flags.account,
          ...(flags.key ? { key: flags.key } : {}),
          ...(flags.genesis ? { pinnedGenesis: flags.genesis } : {}),
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ ok: true, ...r })}\n`);
        } else {
          process.stdout.write(
            `verified ${r.org}/${r.account} (${r.status}) at checkpoint ${r.checkpoint.size}, cosigned by ${r.cosigners.join(", ") || "no witness"}\n`,
          );
          for (const k of r.keys) process.stdout.write(`  ${k.id} ${k.alg} ${k.use} ${k.pub}\n`);
        }
      } catch (e) {
        fail(e, flags.json);
      }
    });

  logOptions(program.command("audit").description("replay the whole log and re-check every entry"))
    .option("--no-progress", "no progress bar")
    .option("--json", "print the result as JSON")
    .action(async (flags: CommonFlags & { progress: boolean }) => {
      useNativeEd25519();
      const bar =
        flags.progress && process.stderr.isTTY
          ? new SingleBar({
              format: "audit [{bar}] {value}/{total} entries | {eps} events/s",
              stream: process.stderr,
            })
          : undefined;
      const started = performance.now();
      let barStarted = false;
      try {
        const r = await audit({
          ...common(flags),
          onProgress: (done, total) => {
            if (!bar) return;
            if (!barStarted) {
              bar.start(total, 0, { eps: 0 });
              barStarted = true;
            }
            bar.update(done, { eps: Math.round(done / ((performance.now() - started) / 1000)) });
          },
        });
        bar?.stop();
        const { state: _state, ...report } = r;
        if (flags.json) process.stdout.write(`${JSON.stringify({ ok: true, ...report })}\n`);
        else {
          process.stdout.write(
            `audited ${r.events} events (${r.orgs} orgs) up to checkpoint ${r.checkpoint.size} in ${r.seconds.toFixed(2)} s: ${Math.round(r.rate)} events/s; no violation\n`,
          );
        }
      } catch (e) {
        bar?.stop();
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
        useNativeEd25519();
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
