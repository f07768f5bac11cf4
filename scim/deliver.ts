// How invitations and confirmations leave the bridge: SMTP (nodemailer), a webhook (JSON POST,
// optionally HMAC-signed), or for development a file in <dataDir>/invites. Each delivery is
// idempotent on its outbox row id (file name, Message-ID, Idempotency-Key), so a retry after a
// crash delivers the same thing again rather than something new.

import { createHmac } from "node:crypto";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTransport, type Transporter } from "nodemailer";
import { TrustlogError } from "../core/errors.js";
import type { ScimConfig } from "./config.js";

export interface Invitation {
  org: string;
  account: string;
  userName: string;
  email?: string;
  displayName?: string;
  /** The 32-byte invite secret, base64: only the invitee may ever see it. */
  secret: string;
  inviteKey: string;
  log: string;
  logKey: string;
  /** The command the invitee runs. */
  accept: string;
}

export interface Deliverer {
  invite(rowId: number, inv: Invitation): Promise<void>;
  close(): void;
}

export async function postWebhook(
  url: string,
  body: unknown,
  idempotencyKey: string,
  secret: string | undefined,
  timeoutMs = 10_000,
): Promise<void> {
  const text = JSON.stringify(body);
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "idempotency-key": idempotencyKey,
        ...(secret
          ? { "x-trustlog-signature": `sha256=${createHmac("sha256", secret).update(text).digest("hex")}` }
          : {}),
      },
      body: text,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new TrustlogError("WEBHOOK_UNREACHABLE", `${url}: ${(e as Error).message}`);
  }
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new TrustlogError("WEBHOOK_FAILED", `${url} answered ${res.status}`);
}

export function inviteText(inv: Invitation): string {
  return [
    `Hello ${inv.displayName ?? inv.userName},`,
    "",
    `you have been invited to ${inv.org}. To set up your account and its key, run:`,
    "",
    `  ${inv.accept}`,
    "",
    "The secret in this command lets you add your account's first key; nobody else needs it.",
    "Do not forward this message.",
  ].join("\n");
}

export function createDeliverer(config: ScimConfig): Deliverer {
  if (config.inviteDelivery === "smtp") {
    const transport: Transporter = createTransport(config.smtpUrl!);
    return {
      async invite(rowId, inv) {
        if (!inv.email) throw new TrustlogError("NO_ADDRESS", `user ${inv.userName} has no e-mail address`);
        try {
          await transport.sendMail({
            from: config.mailFrom,
            to: inv.email,
            subject: `Your invitation to ${inv.org}`,
            text: inviteText(inv),
            messageId: `<invite-${rowId}-${inv.account}@trustlog.scim>`,
          });
        } catch (e) {
          throw new TrustlogError("SMTP_FAILED", (e as Error).message);
        }
      },
      close: () => transport.close(),
    };
  }
  if (config.inviteDelivery === "webhook") {
    return {
      invite: (rowId, inv) =>
        postWebhook(
          config.inviteWebhookUrl!,
          { type: "user.invited", ...inv },
          `invite-${rowId}`,
          config.webhookSecret,
        ),
      close: () => {},
    };
  }
  const dir = join(config.dataDir, "invites");
  return {
    async invite(rowId, inv) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${inv.account}.json`);
      const tmp = `${file}.${rowId}.tmp`;
      writeFileSync(tmp, `${JSON.stringify({ type: "user.invited", ...inv }, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, file);
    },
    close: () => {},
  };
}
