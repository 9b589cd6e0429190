/**
 * ISO-8601 durations (`P30D`, `PT24H`, `PT10M`, `P1DT12H`, `P2W`). Years and months are refused: their
 * length in milliseconds is ambiguous, and the policy uses `validityMonths` for calendar months.
 */
const PATTERN = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

export function parseDuration(text: string): number | undefined {
  const m = PATTERN.exec(text);
  if (!m || text === "P" || text.endsWith("T")) return undefined;
  const [, w, d, h, min, s] = m;
  const ms =
    Number(w ?? 0) * 7 * 86_400_000 +
    Number(d ?? 0) * 86_400_000 +
    Number(h ?? 0) * 3_600_000 +
    Number(min ?? 0) * 60_000 +
    Math.round(Number(s ?? 0) * 1000);
  return ms;
}

export function formatDuration(ms: number): string {
  if (ms <= 0) return "PT0S";
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  let out = "P" + (days ? `${days}D` : "");
  if (h || m || s) out += "T" + (h ? `${h}H` : "") + (m ? `${m}M` : "") + (s ? `${s}S` : "");
  return out;
}
