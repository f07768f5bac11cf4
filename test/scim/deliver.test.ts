// Invitations leaving the bridge (scim/deliver.ts) over the two production channels, against
// real servers on loopback: an SMTP server speaking the protocol (enough of RFC 5321 for a
// client: greeting, EHLO, MAIL, RCPT, DATA, QUIT) and an HTTP server taking the webhook. Each
// checks what arrives, that a retry of the same outbox row is recognisable (Message-ID,
// Idempotency-Key), and that failures come back with their codes for the outbox to retry.

import { createHmac } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseScimConfig } from "../../scim/config.js";
import { createDeliverer, type Invitation } from "../../scim/deliver.js";

const base = {
  logUrl: "http://127.0.0.1:1",
  logKey: "log.example+00000000+AQ",
  org: "acme",
  grantId: "scim-1",
  dataDir: "/tmp/unused-scim",
  // Delivery does not touch the log: no witness policy is needed for these tests.
  unsafeNoWitness: true,
};

const invitation: Invitation = {
  org: "acme",
  account: "alice",
  userName: "alice@acme.example",
  email: "alice@acme.example",
  displayName: "Alice",
  secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=",
  inviteKey: "aW52aXRlLWtleS1pbnZpdGUta2V5LWludml0ZS1rZXk=",
  log: "http://log.example",
  logKey: "log.example+00000000+AQ",
  accept: "trustlog account accept --org acme --account alice --secret …",
};

/** One message as an SMTP server received it. */
interface Mail {
  from: string;
  to: string[];
  data: string;
}

function smtpServer(mails: Mail[], opts: { refuseRcpt?: boolean } = {}): Server {
  return createServer((socket) => {
    socket.setEncoding("utf8");
    let buffer = "";
    let inData = false;
    let current: Mail = { from: "", to: [], data: "" };
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply("220 test.smtp ESMTP");
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (;;) {
        if (inData) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          current.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          inData = false;
          mails.push(current);
          current = { from: "", to: [], data: "" };
          reply("250 2.0.0 queued");
          continue;
        }
        const nl = buffer.indexOf("\r\n");
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") reply("250 test.smtp");
        else if (verb === "MAIL") {
          current.from = line.slice(10).trim();
          reply("250 2.1.0 ok");
        } else if (verb === "RCPT") {
          if (opts.refuseRcpt) reply("550 5.1.1 no such user");
          else {
            current.to.push(line.slice(8).trim());
            reply("250 2.1.5 ok");
          }
        } else if (verb === "DATA") {
          inData = true;
          reply("354 go ahead");
        } else if (verb === "QUIT") {
          reply("221 bye");
          socket.end();
        } else if (verb === "RSET" || verb === "NOOP") reply("250 ok");
        else reply("502 5.5.2 not implemented");
      }
    });
  });
}

async function listen(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

describe("invitations by SMTP", () => {
  const mails: Mail[] = [];
  const server = smtpServer(mails);
  const refusing = smtpServer([], { refuseRcpt: true });
  let port = 0;
  let refusingPort = 0;

  beforeAll(async () => {
    port = await listen(server);
    refusingPort = await listen(refusing);
  });
  afterAll(() => {
    server.close();
    refusing.close();
  });

  it("sends the invitation to the user's address, with a Message-ID tied to the outbox row", async () => {
    const d = createDeliverer(
      parseScimConfig({
        ...base,
        inviteDelivery: "smtp",
        smtpUrl: `smtp://127.0.0.1:${port}`,
        mailFrom: "Acme <it@acme.example>",
      }),
    );
    try {
      await d.invite(42, invitation);
      await d.invite(42, invitation); // a retry after a crash: the same message again
    } finally {
      d.close();
    }
    expect(mails).toHaveLength(2);
    const m = mails[0]!;
    expect(m.from).toBe("<it@acme.example>");
    expect(m.to).toEqual(["<alice@acme.example>"]);
    expect(m.data).toMatch(/^Subject: Your invitation to acme$/m);
    expect(m.data).toMatch(/^Message-ID: <invite-42-alice@trustlog.scim>$/m);
    expect(m.data).toContain("trustlog account accept --org acme --account alice");
    expect(mails[1]!.data).toMatch(/^Message-ID: <invite-42-alice@trustlog.scim>$/m);
  });

  it("fails with NO_ADDRESS for a user without e-mail, and SMTP_FAILED when the server refuses", async () => {
    const d = createDeliverer(
      parseScimConfig({ ...base, inviteDelivery: "smtp", smtpUrl: `smtp://127.0.0.1:${port}` }),
    );
    const { email: _, ...noEmail } = invitation;
    await expect(d.invite(1, noEmail)).rejects.toMatchObject({ code: "NO_ADDRESS" });
    d.close();
    const r = createDeliverer(
      parseScimConfig({ ...base, inviteDelivery: "smtp", smtpUrl: `smtp://127.0.0.1:${refusingPort}` }),
    );
    await expect(r.invite(2, invitation)).rejects.toMatchObject({ code: "SMTP_FAILED" });
    r.close();
  });
});

describe("invitations by webhook", () => {
  const received: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
  let status = 200;
  const server = createHttpServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.statusCode = status;
      res.end();
    });
  });
  let url = "";
  const secret = "a-webhook-secret-of-some-length";

  beforeAll(async () => {
    url = `http://127.0.0.1:${await listen(server)}/hooks/invite`;
  });
  afterAll(() => server.close());

  it("posts the invitation as JSON, signed with the shared secret, with an idempotency key", async () => {
    const d = createDeliverer(
      parseScimConfig({ ...base, inviteDelivery: "webhook", inviteWebhookUrl: url, webhookSecret: secret }),
    );
    await d.invite(7, invitation);
    expect(received).toHaveLength(1);
    const r = received[0]!;
    expect(JSON.parse(r.body)).toEqual({ type: "user.invited", ...invitation });
    expect(r.headers["idempotency-key"]).toBe("invite-7");
    const expected = `sha256=${createHmac("sha256", secret).update(r.body).digest("hex")}`;
    expect(r.headers["x-trustlog-signature"]).toBe(expected);
  });

  it("fails with WEBHOOK_FAILED on an error status and WEBHOOK_UNREACHABLE when nobody listens", async () => {
    status = 500;
    const d = createDeliverer(parseScimConfig({ ...base, inviteDelivery: "webhook", inviteWebhookUrl: url }));
    await expect(d.invite(8, invitation)).rejects.toMatchObject({ code: "WEBHOOK_FAILED" });
    const gone = createDeliverer(
      parseScimConfig({ ...base, inviteDelivery: "webhook", inviteWebhookUrl: "http://127.0.0.1:1/none" }),
    );
    await expect(gone.invite(9, invitation)).rejects.toMatchObject({ code: "WEBHOOK_UNREACHABLE" });
  });
});
