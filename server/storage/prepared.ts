// The log server's frequent reads as prepared statements. drizzle runs a query built on the fly
// unprepared, and postgres-js then sends it in two round trips: Parse and Describe first (to
// learn its parameters' types), then Bind and Execute, PostgreSQL parsing and planning it each
// time. A prepared query (drizzle's .prepare) is described once per pooled connection, after
// which each call is one round trip and PostgreSQL reuses the statement. Only queries whose text
// never changes are prepared (lists go in as one array parameter), so each connection holds a
// fixed, small set of statements.
//
// `?prepare=false` on the database URL turns preparing off in postgres-js for every query, for
// a pooler in transaction mode that does not carry prepared statements (docs/api.md,
// `--database-url`).

const byHandle = new WeakMap<object, Map<string, unknown>>();

/**
 * The prepared query `name` of this drizzle handle, built by `build` (from that same handle) on
 * first use and kept for the handle's life. `build` must put every value that changes between
 * calls in a placeholder: anything else is fixed at the first call.
 */
export function prepared<Q>(db: object, name: string, build: () => Q): Q {
  let queries = byHandle.get(db);
  if (queries === undefined) {
    queries = new Map();
    byHandle.set(db, queries);
  }
  let q = queries.get(name) as Q | undefined;
  if (q === undefined) {
    q = build();
    queries.set(name, q);
  }
  return q;
}
