// Users created per second through the SCIM bridge into a witnessed log, all real processes:
// a log on PostgreSQL with three witnesses, the bridge (`trustlog scim serve`, PostgreSQL).
// Reports the SCIM create latency (request → 201, committed with its outbox row) p50/p99, and
// the end-to-end rate: users whose account.invite is in a signed checkpoint, per second.
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/scim.ts [users] [concurrency]

import { scimWorld, until } from "../test/scim/harness.js";

const users = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 16);
const w = await scimWorld({ witnesses: 3 });
try {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < users; i = next++) {
        const t = performance.now();
        const r = await w.scim("/Users", {
          method: "POST",
          json: {
            schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
            userName: `bench-${i}@acme.example`,
            active: true,
          },
        });
        if (r.status !== 201) throw new Error(`create ${i}: ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const accepted = (performance.now() - started) / 1000;
  await until(
    async () => {
      const h = (await (await fetch(`${w.bridge!.url}/health`)).json()) as { outbox: { pending: number } };
      return h.outbox.pending === 0 ? true : undefined;
    },
    "the outbox to drain",
    600_000,
  );
  const logged = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(1);
  console.log(
    JSON.stringify({
      users,
      concurrency,
      scimCreatesPerSecond: Math.round(users / accepted),
      createLatencyMs: { p50: q(0.5), p99: q(0.99) },
      usersLoggedPerSecond: Math.round(users / logged),
      secondsUntilAllInvitesLoggedAndDelivered: Number(logged.toFixed(2)),
    }),
  );
} finally {
  await w.close();
}
