// Display helpers: nothing here decides anything.

/** The first characters of a base64 value, enough to tell values apart at a glance. */
export function short(b64: string, n = 10): string {
  return b64.length > n + 1 ? `${b64.slice(0, n)}…` : b64;
}

/** A Unix time (seconds) as UTC text, to the second. */
export function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(".000Z", "Z");
}

/** How long ago a Unix time (seconds) was, roughly. */
export function ago(seconds: number, now = Date.now() / 1000): string {
  const d = Math.max(0, Math.round(now - seconds));
  if (d < 90) return `${d} s ago`;
  if (d < 90 * 60) return `${Math.round(d / 60)} min ago`;
  if (d < 36 * 3600) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} days ago`;
}

/** The name part of a note verifier key (name+keyid+key). */
export function keyName(vkey: string): string {
  return vkey.split("+")[0] ?? vkey;
}
