// The log server's subcommands of `trustlog`. `serve` is an entry point: it alone (with
// bin/start.ts) turns SIGINT/SIGTERM into a clean stopServer().

import { type Command, Option } from "commander";
import { toBase64 } from "../core/bytes.js";
import { TrustlogError } from "../core/errors.js";
import type { NoteVerifier } from "../core/note.js";
import { parseVerifierKey } from "../core/note-keys.js";
import { openDatabase, runMigrations } from "../node/db.js";
import { createLogger } from "../node/log.js";
import { progress } from "../node/progress.js";
import { surviveDatabaseFaults, untilSignal } from "../node/signals.js";
import { keyFilePath, loadServerConfig, pgliteDir, type ServerConfig } from "./config.js";
import { readSignerKey, writeNewSignerKey } from "./keys.js";
import { SERVER_MIGRATIONS, startServer, stopServer } from "./main.js";
import { type FsckReport, fsck } from "./storage/fsck.js";
import { WriteTokens } from "./storage/tokens.js";

/** Flags shared by commands that open the log's database. */
function databaseOptions(cmd: Command): Command {
  return cmd
    .option("--database-url <url>", "PostgreSQL URL (env DATABASE_URL); default: PGlite under --data-dir")
    .option(
      "--data-dir <dir>",
      "data directory: PGlite database and generated log key (env TRUSTLOG_DATA_DIR)",
    );
}

/** `--witness <url>,<vkey>`: the witness's name is its vkey's key name. */
export function parseWitnessFlag(spec: string): { name: string; vkey: string; url: string } {
  const comma = spec.indexOf(",");
  if (comma < 0) throw new TrustlogError("CONFIG_INVALID", `--witness wants <url>,<vkey>, got ${spec}`);
  const url = spec.slice(0, comma);
  const vkey = spec.slice(comma + 1);
  return { name: parseVerifierKey(vkey).name, vkey, url };
}

/** Registers the server's subcommands on the `trustlog` program. */
export function registerServerCommands(program: Command): void {
  databaseOptions(
    program
      .command("serve")
      .description("run the log server")
      .option("--host <host>", "listen address (env TRUSTLOG_HOST, default 127.0.0.1)")
      .option("--port <port>", "listen port, 0 for any (env TRUSTLOG_PORT, default 8080)")
      .option("--origin <origin>", "checkpoint origin and log key name (env TRUSTLOG_ORIGIN)")
      .option("--key-file <file>", "log signing key, created if missing (env TRUSTLOG_KEY_FILE)"),
  )
    .option("--batch-size <n>", "most events per sequencer batch (env TRUSTLOG_BATCH_SIZE)")
    .option("--batch-delay-ms <ms>", "longest wait to fill a batch (env TRUSTLOG_BATCH_DELAY_MS)")
    .option("--queue-limit <n>", "queued events before pushing back (env TRUSTLOG_QUEUE_LIMIT)")
    .option("--skew-seconds <s>", "accepted clock skew of event times (env TRUSTLOG_SKEW_SECONDS)")
    .addOption(
      new Option(
        "--write-auth <mode>",
        "token: every write needs a bearer token (env TRUSTLOG_WRITE_AUTH, default none)",
      ).choices(["none", "token"]),
    )
    .addOption(
      new Option(
        "--org-creation <mode>",
        "token: creating an org needs a bearer token; open is for development (env TRUSTLOG_ORG_CREATION, default open)",
      ).choices(["open", "token"]),
    )
    .option(
      "--client-rate <n>",
      "write events a second per client address, 0: no limit (env TRUSTLOG_CLIENT_RATE)",
    )
    .option("--client-burst <n>", "events a client may send at once (env TRUSTLOG_CLIENT_BURST)")
    .option("--org-rate <n>", "write events a second per org, 0: no limit (env TRUSTLOG_ORG_RATE)")
    .option("--org-burst <n>", "events an org may take at once (env TRUSTLOG_ORG_BURST)")
    .option(
      "--client-ip-header <name>",
      "header of a trusted reverse proxy naming the client address, e.g. x-forwarded-for (env TRUSTLOG_CLIENT_IP_HEADER)",
    )
    .option(
      "--witness <url,vkey...>",
      "a witness to submit checkpoints to: its URL and cosignature vkey, comma-separated (repeatable; env TRUSTLOG_WITNESSES, a JSON array of {name, vkey, url})",
    )
    .option(
      "--quorum <k>",
      "witness cosignatures clients should require, published in /v1/log (env TRUSTLOG_QUORUM)",
    )
    .option(
      "--publish-quorum <k>",
      "publish only checkpoints cosigned by k witnesses (env TRUSTLOG_PUBLISH_QUORUM, default 0)",
    )
    .option(
      "--witness-refresh-seconds <s>",
      "re-submit the latest checkpoint to witnesses this often while idle (env TRUSTLOG_WITNESS_REFRESH_SECONDS)",
    )
    .addOption(
      new Option("--log-level <level>", "log level (env TRUSTLOG_LOG_LEVEL)").choices([
        "fatal",
        "error",
        "warn",
        "info",
        "debug",
        "trace",
        "silent",
      ]),
    )
    .action(async (raw: Partial<Record<keyof ServerConfig, string>> & { witness?: string[] }) => {
      const { witness, ...flags } = raw;
      const config = loadServerConfig(process.env, {
        ...flags,
        ...(witness ? { witnesses: witness.map(parseWitnessFlag) } : {}),
      });
      const logger = createLogger({ name: "trustlog-server", level: config.logLevel });
      surviveDatabaseFaults(logger);
      const server = await startServer(config, { logger });
      if (server.key.created) process.stdout.write(`generated log key; vkey: ${server.key.vkey}\n`);
      process.stdout.write(`trustlog log server on ${server.url} (vkey ${server.key.vkey})\n`);
      await untilSignal("draining the sequencer and stopping");
      await stopServer(server);
    });

  program
    .command("keygen")
    .description("write a new note signing key (PRIVATE+KEY+… format) and print its vkey")
    .requiredOption("--name <origin>", "key name, usually the log's origin")
    .requiredOption("--out <file>", "file to create (mode 0600; never overwritten)")
    .action((opts: { name: string; out: string }) => {
      const { vkey } = writeNewSignerKey(opts.out, opts.name);
      process.stdout.write(`${vkey}\n`);
    });

  databaseOptions(program.command("migrate").description("apply the log database migrations")).action(
    async (flags: Partial<Record<keyof ServerConfig, string>>) => {
      const config = loadServerConfig(process.env, flags);
      const database = await openDatabase(
        config.databaseUrl ? { url: config.databaseUrl, max: 1 } : { dataDir: pgliteDir(config) },
      );
      try {
        await runMigrations(database, SERVER_MIGRATIONS);
        process.stdout.write("migrations applied\n");
      } finally {
        await database.close();
      }
    },
  );

  databaseOptions(
    program
      .command("fsck")
      .description("re-check the whole log: entries, tiles, checkpoints and derived state")
      .option("--key-file <file>", "log signing key (its vkey checks the checkpoint signatures)")
      .option("--vkey <vkey>", "log verifier key to check checkpoint signatures with"),
  ).action(async (flags: Partial<Record<keyof ServerConfig, string>> & { vkey?: string }) => {
    const { vkey, ...rest } = flags;
    const config = loadServerConfig(process.env, rest);
    if (!(await runFsck(config, vkey))) process.exitCode = 1;
  });

  const token = program
    .command("token")
    .description("bearer tokens of writers (stored hashed; see docs/api.md, Write admission)");
  databaseOptions(
    token.command("add").description("create a token and print it, once").argument("<name>", "who holds it"),
  ).action(async (name: string, flags: Partial<Record<keyof ServerConfig, string>>) => {
    await withTokens(flags, async (tokens) => {
      const value = await tokens.add(name);
      process.stdout.write(`${value}
`);
      process.stderr.write(`token ${name} created; it is shown this once, keep it secret
`);
    });
  });
  databaseOptions(token.command("list").description("list tokens: name, created, revoked")).action(
    async (flags: Partial<Record<keyof ServerConfig, string>>) => {
      await withTokens(flags, async (tokens) => {
        for (const t of await tokens.list()) {
          const revoked = t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active";
          process.stdout.write(`${t.name}\tcreated ${t.createdAt.toISOString()}\t${revoked}\n`);
        }
      });
    },
  );
  databaseOptions(
    token
      .command("revoke")
      .description("revoke a token (servers stop accepting it within 5 s)")
      .argument("<name>"),
  ).action(async (name: string, flags: Partial<Record<keyof ServerConfig, string>>) => {
    await withTokens(flags, async (tokens) => {
      if (!(await tokens.revoke(name))) {
        throw new TrustlogError("NOT_FOUND", `no active token named ${name}`);
      }
      process.stdout.write(`token ${name} revoked\n`);
    });
  });

  program
    .command("demo")
    .description("create an org, a provisioning grant and a few accounts on a running log")
    .requiredOption("--log <url>", "the log server's base URL")
    .option("--accounts <n>", "accounts to invite and enrol", "3")
    .option("--org <id>", "org id (default: a fresh random one)")
    .option("--json", "print a JSON summary (indices, proofs, checkpoint) instead of prose")
    .option("--token <token>", "a writer's bearer token (env TRUSTLOG_TOKEN), for a log that requires one")
    .action(async (opts: { log: string; accounts: string; org?: string; json?: boolean; token?: string }) => {
      const { runDemo } = await import("./demo.js");
      const accounts = Number.parseInt(opts.accounts, 10);
      const summary = await runDemo({
        logUrl: opts.log,
        accounts: Number.isSafeInteger(accounts) && accounts >= 0 ? accounts : 3,
        org: opts.org,
        print: opts.json ? () => {} : (line) => process.stdout.write(`${line}\n`),
        ...((opts.token ?? process.env.TRUSTLOG_TOKEN)
          ? { token: opts.token ?? process.env.TRUSTLOG_TOKEN }
          : {}),
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    });
}

/** Opens the log's database (migrated) for the token commands. */
async function withTokens(
  flags: Partial<Record<keyof ServerConfig, string>>,
  run: (tokens: WriteTokens) => Promise<void>,
): Promise<void> {
  const config = loadServerConfig(process.env, flags);
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl, max: 1 } : { dataDir: pgliteDir(config) },
  );
  try {
    await runMigrations(database, SERVER_MIGRATIONS);
    await run(new WriteTokens(database));
  } finally {
    await database.close();
  }
}

/** Runs fsck with progress on stderr and the report on stdout; true when the log is sound. */
async function runFsck(config: ServerConfig, vkey: string | undefined): Promise<boolean> {
  let verifier: NoteVerifier | undefined;
  if (vkey) verifier = parseVerifierKey(vkey);
  else {
    const file = keyFilePath(config);
    if (file) verifier = parseVerifierKey(readSignerKey(file).vkey);
  }
  if (!verifier) process.stderr.write("no --vkey or key file: checkpoint signatures are not checked\n");
  const database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl, max: 2 } : { dataDir: pgliteDir(config) },
  );
  try {
    const bar = progress({ label: "fsck", unit: "entries" });
    let report: FsckReport;
    try {
      report = await fsck(database, { verifier, onProgress: (done, size) => bar.update(done, size) });
    } finally {
      bar.stop();
    }
    process.stdout.write(
      `size ${report.size}, root ${toBase64(report.root)}, ${report.entriesChecked} entries and ` +
        `${report.tilesChecked} tiles checked: ${report.ok ? "OK" : `${report.mismatches.length} problem(s)`}\n`,
    );
    for (const m of report.mismatches) {
      const at =
        m.index === undefined
          ? ""
          : m.level === undefined
            ? ` entry ${m.index}`
            : ` tile ${m.level}/${m.index}`;
      process.stdout.write(`  ${m.kind}${at}: ${m.message}\n`);
    }
    return report.ok;
  } finally {
    await database.close();
  }
}
