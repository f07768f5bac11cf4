// Each test file gets its own fresh PostgreSQL database, so tests never share state.
// Where the server comes from: TEST_DATABASE_URL when set (CI sets it), else a testcontainers
// PostgreSQL when a Docker engine answers, else the local server on 127.0.0.1:5432.

import postgres from "postgres";

let containerUrl: Promise<string> | undefined;

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function baseUrl(): Promise<string> {
  if (process.env.TEST_DATABASE_URL) return process.env.TEST_DATABASE_URL;
  if (!containerUrl) {
    containerUrl = (async () => {
      if (await dockerAnswers()) {
        const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
        const c = await new PostgreSqlContainer("postgres:16-alpine").start();
        return c.getConnectionUri();
      }
      return "postgres://postgres@127.0.0.1:5432/test";
    })();
  }
  return containerUrl;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates a new, empty database on the test server and returns its URL. */
export async function createTestDatabase(prefix = "t"): Promise<TestDatabase> {
  const base = await baseUrl();
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(base, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(base);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const a = postgres(base, { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * What has read `table` so far, from PostgreSQL's statistics views: scans (sequential and by
 * index) and tuples (read by sequential scans, index entries read, rows fetched by index). Call
 * it on a one-connection pool: a backend's counters reach the views only at its next
 * transaction's end, which the flush forced here makes the next query's.
 */
export async function tableReads(
  database: { query<T>(text: string, params?: unknown[]): Promise<T[]> },
  table: string,
): Promise<{ scans: number; tuples: number }> {
  await database.query("select pg_stat_force_next_flush()");
  const [t] = await database.query<{ scans: string; tuples: string }>(
    `select (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text as scans,
            (coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)
             + (select coalesce(sum(idx_tup_read), 0) from pg_stat_user_indexes i where i.relid = t.relid))::text as tuples
     from pg_stat_user_tables t where relname = $1`,
    [table],
  );
  return { scans: Number(t!.scans), tuples: Number(t!.tuples) };
}
