// The log's growth as this browser saw it: the size of every verified checkpoint and when it was
// seen, a few hundred points per log key in localStorage. Only verified sizes are recorded, so
// the curve is one the log signed, though its times are this browser's.

const MAX_POINTS = 300;

export interface GrowthPoint {
  /** When this browser verified it, milliseconds since the epoch. */
  at: number;
  size: number;
}

const keyOf = (vkey: string) => `trustlog-explorer:growth:${vkey}`;

export function growth(vkey: string): GrowthPoint[] {
  try {
    const v = JSON.parse(localStorage.getItem(keyOf(vkey)) ?? "[]") as unknown;
    return Array.isArray(v)
      ? v.filter((p): p is GrowthPoint => typeof p?.at === "number" && typeof p?.size === "number")
      : [];
  } catch {
    return [];
  }
}

/**
 * Records a verified size. A plateau keeps only its first and last points (the last one moves),
 * so polling an idle log does not push out the history.
 */
export function recordGrowth(vkey: string, size: number, at = Date.now()): GrowthPoint[] {
  const points = growth(vkey);
  const last = points[points.length - 1];
  const before = points[points.length - 2];
  if (last && before && last.size === size && before.size === size) last.at = at;
  else points.push({ at, size });
  const kept = points.slice(-MAX_POINTS);
  localStorage.setItem(keyOf(vkey), JSON.stringify(kept));
  return kept;
}
