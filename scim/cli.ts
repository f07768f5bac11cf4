// The SCIM bridge's subcommands of `trustlog`: `scim init` (the delegate key, and what the
// admin must sign), `scim serve` (an entry point: it alone turns SIGINT/SIGTERM into a clean
// stop), `scim token create|list|revoke` (the identity provider's bearer tokens).

import { type Command, Option } from "commander";
import { untilSignal } from "../node/signals.js";
import { delegateKeyPath, loadScimConfig } from "./config.js";
import { REQUIRED_OPS } from "./grant.js";
import { ensureDelegateKey, openScimDatabase, startScim, stopScim } from "./main.js";
import { ScimTokens } from "./tokens.js";

const collect = (v: string, prev: string[] = []) => [...prev, v];

function storage(cmd: Command): Command {
  return cmd
    .option(
      "--database-url <url>",
      "PostgreSQL URL (env TRUSTLOG_SCIM_DATABASE_URL); default PGlite under --data-dir",
    )
    .option("--data-dir <dir>", "data directory (env TRUSTLOG_SCIM_DATA_DIR, default ./data/scim)");
}

function storageConfig(flags: { databaseUrl?: string; dataDir?: string }) {
  return {
    databaseUrl: flags.databaseUrl ?? process.env.TRUSTLOG_SCIM_DATABASE_URL ?? undefined,
    dataDir: flags.dataDir ?? process.env.TRUSTLOG_SCIM_DATA_DIR ?? "./data/scim",
  };
}

export function registerScimCommands(program: Command): void {
  const scim = program.command("scim").description("the SCIM 2.0 provisioning bridge (Okta, Entra ID)");

  scim
    .command("init")
    .description("make the bridge's delegate key and print the grant the org admin must issue")
    .option("--data-dir <dir>", "data directory (default ./data/scim)")
    .option("--delegate-key-file <file>", "where the delegate key lives (default <data dir>/delegate.key)")
    .requiredOption("--org <org>", "the org the bridge provisions")
    .option("--grant <id>", "the grant id", "scim-bridge-1")
    .option("--log <url>", "the log's URL (for the printed command)", "http://127.0.0.1:8080")
    .option("--with-key-revoke", "also ask for key.revoke")
    .action(
      (f: {
        dataDir?: string;
        delegateKeyFile?: string;
        org: string;
        grant: string;
        log: string;
        withKeyRevoke?: boolean;
      }) => {
        const file = delegateKeyPath({
          dataDir: storageConfig(f).dataDir,
          delegateKeyFile: f.delegateKeyFile,
        });
        const k = ensureDelegateKey(file);
        const ops = [...REQUIRED_OPS, ...(f.withKeyRevoke ? ["key.revoke"] : [])].join(",");
        process.stdout.write(
          [
            `${k.created ? "created" : "kept"} the delegate key ${file}`,
            `delegate public key: ${k.publicKey}`,
            "",
            "The org admin issues the bridge's grant (signed with the admin key):",
            `  trustlog admin grant --log ${f.log} --org ${f.org} --admin-key <admin.key> \\`,
            `    --id ${f.grant} --delegate ${k.publicKey} \\`,
            `    --ops ${ops} --accounts '*' --days 365`,
            "",
            "then starts the bridge:",
            `  trustlog scim serve --log-url ${f.log} --log-key <log vkey> --org ${f.org} --grant ${f.grant} --witness <vkey>…`,
            "",
          ].join("\n"),
        );
      },
    );

  storage(
    scim
      .command("serve")
      .description("run the SCIM bridge")
      .option("--config <file>", "JSON configuration file (see docs/scim.md)")
      .option("--host <host>", "listen address (env TRUSTLOG_SCIM_HOST, default 127.0.0.1)")
      .option("--port <port>", "listen port (env TRUSTLOG_SCIM_PORT, default 8090)")
      .option("--public-url <url>", "public base URL of /scim/v2 (env TRUSTLOG_SCIM_PUBLIC_URL)")
      .option("--delegate-key-file <file>", "delegate key (default <data dir>/delegate.key)")
      .option("--log-url <url>", "the log's URL (env TRUSTLOG_SCIM_LOG_URL)")
      .option("--log-key <vkey>", "the log's note verifier key (env TRUSTLOG_SCIM_LOG_KEY)")
      .option("--log-origin <origin>", "checkpoint origin when it differs from the key name")
      .option("--log-token <token>", "the log's write token (env TRUSTLOG_SCIM_LOG_TOKEN)")
      .option("--org <org>", "org id (env TRUSTLOG_SCIM_ORG)")
      .option("--grant <id>", "grant id (env TRUSTLOG_SCIM_GRANT)")
      .option("--witness <vkey>", "a witness cosignature/v1 vkey the bridge requires (repeatable)", collect)
      .option("--quorum <k>", "how many of the witnesses must cosign (default all)")
      .option("--unsafe-no-witness", "verify the log without witnesses (development only)")
      .option("--max-age <s>", "how old the quorum's cosignatures may be (default 3600)")
      .addOption(
        new Option("--invite-delivery <how>", "file, smtp or webhook (default file)").choices([
          "file",
          "smtp",
          "webhook",
        ]),
      )
      .option("--smtp-url <url>", "SMTP server, e.g. smtp://user:pass@mail.example:587")
      .option("--mail-from <addr>", "From: of invitations")
      .option("--invite-webhook-url <url>", "where invitations are POSTed (webhook delivery)")
      .option("--confirm-webhook-url <url>", "told when a user's first key verified")
      .option("--webhook-secret <s>", "HMAC key for X-Trustlog-Signature")
      .option("--watch-interval-ms <ms>", "how often the verification watcher looks")
      .option("--grant-check-seconds <s>", "how often the grant is re-verified")
      .addOption(
        new Option("--log-level <level>", "log level (env TRUSTLOG_SCIM_LOG_LEVEL)").choices([
          "fatal",
          "error",
          "warn",
          "info",
          "debug",
          "trace",
          "silent",
        ]),
      ),
  ).action(async (f: Record<string, unknown>) => {
    const {
      config: file,
      grant,
      witness,
      maxAge,
      ...rest
    } = f as {
      config?: string;
      grant?: string;
      witness?: string[];
      maxAge?: string;
    } & Record<string, unknown>;
    const config = loadScimConfig(file, process.env, {
      ...rest,
      ...(grant ? { grantId: grant } : {}),
      ...(witness ? { witnesses: witness } : {}),
      ...(maxAge ? { maxAgeSeconds: maxAge } : {}),
    });
    const s = await startScim(config);
    process.stdout.write(
      `trustlog SCIM bridge on ${s.scimUrl} (org ${config.org}, grant ${config.grantId}, delegate ${s.delegateKey})\n`,
    );
    await untilSignal("stopping the SCIM bridge");
    await stopScim(s);
    process.exit(0);
  });

  const token = scim.command("token").description("the identity provider's bearer tokens");
  storage(token.command("create <name>").description("create a token and print it (once)")).action(
    async (name: string, f: { databaseUrl?: string; dataDir?: string }) => {
      const db = await openScimDatabase(storageConfig(f));
      try {
        process.stdout.write(`${await new ScimTokens(db).create(name)}\n`);
      } finally {
        await db.close();
      }
    },
  );
  storage(token.command("list").description("list tokens: name, created, active or revoked")).action(
    async (f: { databaseUrl?: string; dataDir?: string }) => {
      const db = await openScimDatabase(storageConfig(f));
      try {
        for (const t of await new ScimTokens(db).list())
          process.stdout.write(
            `${t.name}\t${t.createdAt.toISOString()}\t${t.revokedAt ? `revoked ${t.revokedAt.toISOString()}` : "active"}\n`,
          );
      } finally {
        await db.close();
      }
    },
  );
  storage(token.command("revoke <name>").description("revoke a token")).action(
    async (name: string, f: { databaseUrl?: string; dataDir?: string }) => {
      const db = await openScimDatabase(storageConfig(f));
      try {
        await new ScimTokens(db).revoke(name);
        process.stdout.write(`revoked ${name}\n`);
      } finally {
        await db.close();
      }
    },
  );
}
