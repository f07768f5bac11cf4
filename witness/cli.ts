// The witness's subcommands of `trustlog`. `witness serve` is an entry point: it alone turns
// SIGINT/SIGTERM into a clean stopWitness() and installs the native Ed25519 back end.

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { NOTE_TYPE_COSIGNATURE_V1 } from "../core/note.js";
import { generateSignerKey } from "../core/note-keys.js";
import { createLogger } from "../node/log.js";
import { surviveDatabaseFaults, untilSignal } from "../node/signals.js";
import { loadWitnessConfig, type WitnessConfig } from "./config.js";
import { loadCosignerKey, startWitness, stopWitness } from "./main.js";

/** Registers the witness's subcommands on the `trustlog` program. */
export function registerWitnessCommands(program: Command): void {
  const witness = program.command("witness").description("run or set up a witness (C2SP tlog-witness)");

  witness
    .command("serve")
    .description("run a witness: cosign checkpoints of the configured logs, pull, gossip")
    .option("--config <file>", "JSON configuration file (logs, peers, settings); see docs/witness.md")
    .option("--host <host>", "listen address (env TRUSTLOG_WITNESS_HOST, default 127.0.0.1)")
    .option("--port <port>", "listen port, 0 for any (env TRUSTLOG_WITNESS_PORT, default 7380)")
    .option("--key-file <file>", "cosignature key from `witness keygen` (env TRUSTLOG_WITNESS_KEY_FILE)")
    .option("--database-url <url>", "PostgreSQL URL (env TRUSTLOG_WITNESS_DATABASE_URL); default PGlite")
    .option("--data-dir <dir>", "PGlite data directory (env TRUSTLOG_WITNESS_DATA_DIR)")
    .option(
      "--allow-pglite",
      "run on PGlite although it does not fsync (development only; env TRUSTLOG_WITNESS_ALLOW_PGLITE=1)",
    )
    .option("--pull-interval-seconds <s>", "seconds between pull rounds, 0 disables")
    .option("--gossip-interval-seconds <s>", "seconds between gossip rounds, 0 disables")
    .addOption(
      new Option("--log-level <level>", "log level (env TRUSTLOG_WITNESS_LOG_LEVEL)").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    )
    .action(async (flags: { config?: string } & Partial<Record<keyof WitnessConfig, string | boolean>>) => {
      const { config: file, ...rest } = flags;
      const config = loadWitnessConfig(file, process.env, rest);
      const logger = createLogger({ name: "witness", level: config.logLevel });
      surviveDatabaseFaults(logger);
      const w = await startWitness(config, { logger });
      process.stdout.write(`trustlog witness on ${w.url} (vkey ${w.vkey})\n`);
      await untilSignal("stopping the witness");
      await stopWitness(w);
      // Everything is closed; do not let a stray handle keep a stopped witness alive.
      process.exit(0);
    });

  witness
    .command("keygen")
    .description("write a new cosignature/v1 signing key (PRIVATE+KEY+…, type 0x04) and print its vkey")
    .requiredOption("--name <name>", "witness name (key name), e.g. witness.example.com")
    .requiredOption("--out <file>", "where to write the private key (refuses to overwrite)")
    .action((flags: { name: string; out: string }) => {
      const { skey, vkey } = generateSignerKey(
        flags.name,
        new Uint8Array(randomBytes(32)),
        NOTE_TYPE_COSIGNATURE_V1,
      );
      writeFileSync(flags.out, `${skey}\n`, { mode: 0o600, flag: "wx" });
      process.stdout.write(`${vkey}\n`);
    });

  witness
    .command("vkey")
    .description("print the vkey of a witness key file")
    .requiredOption("--key-file <file>", "cosignature key file")
    .action((flags: { keyFile: string }) => {
      process.stdout.write(`${loadCosignerKey(flags.keyFile, () => 0).vkey}\n`);
    });
}
