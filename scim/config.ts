// The SCIM bridge's configuration: a JSON file, overridden by TRUSTLOG_SCIM_* environment
// variables, overridden by flags; validated once here (zod) and passed down typed. Nothing else
// in scim/ reads process.env or files for settings.

import { join } from "node:path";
import { z } from "zod";
import { TrustlogError } from "../core/errors.js";
import { layeredConfig } from "../node/config-file.js";
import { LOG_LEVELS } from "../node/log.js";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));
const yesNo = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0", "yes", "no"]).transform((v) => v === "true" || v === "1" || v === "yes"),
]);
const list = z.union([
  z.array(z.string().min(1)),
  z.string().transform((s) => {
    const t = s.trim();
    if (t.startsWith("[")) return JSON.parse(t) as string[];
    return t.split(/[\s,]+/).filter((x) => x !== "");
  }),
]);

export const scimConfigSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: int(0, 65535).default(8090),
    /** Public base URL of /scim/v2 (meta.location, $ref); default http://host:port/scim/v2. */
    publicUrl: httpUrl.optional(),
    databaseUrl: z.string().min(1).optional(),
    /** PGlite database, delegate key and (file delivery) invitations live here. */
    dataDir: z.string().min(1).default("./data/scim"),
    delegateKeyFile: z.string().min(1).optional(),
    /** The log: its URL, note verifier key, origin (default: the key's name) and write token. */
    logUrl: httpUrl,
    logKey: z.string().min(1),
    logOrigin: z.string().min(1).optional(),
    logToken: z.string().min(1).optional(),
    /** The bridge's own witness policy for verifying the log (cosignature/v1 vkeys, k of n). */
    witnesses: list.default([]),
    quorum: int(0, 64).optional(),
    unsafeNoWitness: yesNo.default(false),
    maxAgeSeconds: int(1, 30 * 86400).default(3600),
    org: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/),
    grantId: z.string().regex(/^[A-Za-z0-9._@+-]{1,128}$/),
    /** How invitations leave: a file in <dataDir>/invites (development), SMTP, or a webhook. */
    inviteDelivery: z.enum(["file", "smtp", "webhook"]).default("file"),
    smtpUrl: z.string().min(1).optional(),
    mailFrom: z.string().min(1).default("trustlog <no-reply@localhost>"),
    inviteWebhookUrl: httpUrl.optional(),
    /** Told when a user is confirmed (its first key verified). */
    confirmWebhookUrl: httpUrl.optional(),
    /** HMAC-SHA256 key for the X-Trustlog-Signature header of webhooks. */
    webhookSecret: z.string().min(16).optional(),
    watchIntervalMs: int(50, 3_600_000).default(2000),
    grantCheckSeconds: int(1, 86_400).default(30),
    outboxIntervalMs: int(20, 60_000).default(500),
    /** Envelopes per submission to the log (the log takes up to 1,000). */
    batchSize: int(1, 1000).default(200),
    maxBodyBytes: int(1024, 16 << 20).default(1 << 20),
    /** How long start-up waits for an unreachable log before giving up. */
    startTimeoutSeconds: int(0, 3600).default(60),
    logLevel: z.enum(LOG_LEVELS).default("info"),
  })
  .superRefine((c, ctx) => {
    if (c.inviteDelivery === "smtp" && !c.smtpUrl)
      ctx.addIssue({ code: "custom", path: ["smtpUrl"], message: "inviteDelivery smtp needs smtpUrl" });
    if (c.inviteDelivery === "webhook" && !c.inviteWebhookUrl)
      ctx.addIssue({
        code: "custom",
        path: ["inviteWebhookUrl"],
        message: "inviteDelivery webhook needs inviteWebhookUrl",
      });
    if (c.witnesses.length === 0 && !c.unsafeNoWitness)
      ctx.addIssue({
        code: "custom",
        path: ["witnesses"],
        message:
          "the bridge verifies the log with a witness policy: give witnesses (and quorum), or unsafeNoWitness for development",
      });
  });

export type ScimConfig = z.infer<typeof scimConfigSchema>;
export type ScimConfigInput = z.input<typeof scimConfigSchema>;

const ENV: Record<string, keyof ScimConfig> = {
  TRUSTLOG_SCIM_HOST: "host",
  TRUSTLOG_SCIM_PORT: "port",
  TRUSTLOG_SCIM_PUBLIC_URL: "publicUrl",
  TRUSTLOG_SCIM_DATABASE_URL: "databaseUrl",
  TRUSTLOG_SCIM_DATA_DIR: "dataDir",
  TRUSTLOG_SCIM_DELEGATE_KEY_FILE: "delegateKeyFile",
  TRUSTLOG_SCIM_LOG_URL: "logUrl",
  TRUSTLOG_SCIM_LOG_KEY: "logKey",
  TRUSTLOG_SCIM_LOG_ORIGIN: "logOrigin",
  TRUSTLOG_SCIM_LOG_TOKEN: "logToken",
  TRUSTLOG_SCIM_WITNESSES: "witnesses",
  TRUSTLOG_SCIM_QUORUM: "quorum",
  TRUSTLOG_SCIM_UNSAFE_NO_WITNESS: "unsafeNoWitness",
  TRUSTLOG_SCIM_ORG: "org",
  TRUSTLOG_SCIM_GRANT: "grantId",
  TRUSTLOG_SCIM_INVITE_DELIVERY: "inviteDelivery",
  TRUSTLOG_SCIM_SMTP_URL: "smtpUrl",
  TRUSTLOG_SCIM_MAIL_FROM: "mailFrom",
  TRUSTLOG_SCIM_INVITE_WEBHOOK_URL: "inviteWebhookUrl",
  TRUSTLOG_SCIM_CONFIRM_WEBHOOK_URL: "confirmWebhookUrl",
  TRUSTLOG_SCIM_WEBHOOK_SECRET: "webhookSecret",
  TRUSTLOG_SCIM_WATCH_INTERVAL_MS: "watchIntervalMs",
  TRUSTLOG_SCIM_GRANT_CHECK_SECONDS: "grantCheckSeconds",
  TRUSTLOG_SCIM_LOG_LEVEL: "logLevel",
};

export function parseScimConfig(raw: unknown): ScimConfig {
  const r = scimConfigSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
    throw new TrustlogError("CONFIG_INVALID", `invalid SCIM bridge configuration: ${issues}`);
  }
  return r.data;
}

/** File (paths relative to it), then TRUSTLOG_SCIM_* variables, then flags that are set. */
export function loadScimConfig(
  file: string | undefined,
  env: Record<string, string | undefined>,
  flags: Record<string, unknown> = {},
): ScimConfig {
  const raw = layeredConfig({ file, pathFields: ["dataDir", "delegateKeyFile"], env, envFields: ENV, flags });
  return parseScimConfig(raw);
}

export const delegateKeyPath = (c: { dataDir: string; delegateKeyFile?: string | undefined }) =>
  c.delegateKeyFile ?? join(c.dataDir, "delegate.key");
export const pgliteDir = (c: { dataDir: string }) => join(c.dataDir, "pglite");
