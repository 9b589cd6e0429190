/**
 * Where each Kong target's confirmation of a pushed key stands, persisted in one tag on the generation
 * being pushed (`rotator-kongConfirm`), so that a later run resumes the same confirmation: the pre-write
 * baseline (public config hashes), when the write happened, and the gateways that had not confirmed at the
 * last look (for status and alerts). Compact JSON: `{"<target>":[appliedAtEpochSeconds,"baseline","lagging,..."]}`.
 * Key Vault caps a tag value at 256 characters (see ./tags.ts): lagging names are dropped first, then the
 * write is refused by mergeTags with TAG_VALUE_TOO_LONG.
 */
import type { KongConfirmBase } from "../ports.js";
import { TAG_KONG_CONFIRM, type TagChanges } from "./tags.js";

export { TAG_KONG_CONFIRM };
const MAX_VALUE = 256;

export interface ConfirmRecord extends KongConfirmBase {
  lagging: string[];
}

type Raw = Record<string, [number, string, string]>;

function parseRaw(tags: Readonly<Record<string, string>>): Raw {
  const text = tags[TAG_KONG_CONFIRM];
  if (!text) return {};
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) return {};
    const out: Raw = {};
    for (const [k, e] of Object.entries(v as Record<string, unknown>))
      if (
        Array.isArray(e) &&
        typeof e[0] === "number" &&
        typeof e[1] === "string" &&
        typeof e[2] === "string"
      )
        out[k] = [e[0], e[1], e[2]];
    return out;
  } catch {
    return {};
  }
}

/** Every target's recorded confirmation on a generation (an unreadable tag reads as none: confirmation restarts). */
export function confirmRecords(tags: Readonly<Record<string, string>>): Record<string, ConfirmRecord> {
  const out: Record<string, ConfirmRecord> = {};
  for (const [name, [at, baseline, lagging]] of Object.entries(parseRaw(tags)))
    out[name] = {
      appliedAt: new Date(at * 1000),
      ...(baseline ? { baseline } : {}),
      lagging: lagging ? lagging.split(",") : [],
    };
  return out;
}

/** Tag changes that set (or, with `undefined`, remove) one target's record. */
export function confirmRecordChanges(
  tags: Readonly<Record<string, string>>,
  target: string,
  record: ConfirmRecord | undefined,
): TagChanges {
  const raw = parseRaw(tags);
  if (record)
    raw[target] = [
      Math.floor(record.appliedAt.getTime() / 1000),
      record.baseline ?? "",
      record.lagging.join(","),
    ];
  else delete raw[target];
  if (Object.keys(raw).length === 0) return { [TAG_KONG_CONFIRM]: undefined };
  let text = JSON.stringify(raw);
  if (text.length > MAX_VALUE) {
    for (const e of Object.values(raw)) e[2] = "";
    text = JSON.stringify(raw);
  }
  return { [TAG_KONG_CONFIRM]: text };
}
