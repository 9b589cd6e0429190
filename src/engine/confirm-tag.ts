/**
 * Where each Kong target's confirmation of a pushed key stands, persisted in one tag on the generation
 * being pushed (`rotator-kongConfirm`), so that a later run resumes the same confirmation: the pre-write
 * baseline (public config hashes), when the write happened, when the current confirmation window began
 * (the write, or a later attempt after a failed window), whether that window ended unconfirmed, and the
 * gateways that had not confirmed at the last look (for status and alerts). Compact JSON:
 * `{"<target>":[appliedAtEpochSeconds,"baseline","lagging,...",windowFromEpochSeconds,failed 0|1]}`; a record
 * written before windows were kept has only the first three (its window began at the write, and lagging
 * names were written only when it failed).
 * Key Vault caps a tag value at 256 characters (see ./tags.ts): lagging names are dropped first, then the
 * write is refused by mergeTags with TAG_VALUE_TOO_LONG.
 */
import type { KongConfirmBase } from "../ports/engine.js";
import { jsonTag, TAG_KONG_CONFIRM, type TagChanges } from "./tags.js";

export { TAG_KONG_CONFIRM };
const MAX_VALUE = 256;

export interface ConfirmRecord extends KongConfirmBase {
  lagging: string[];
  /** When the current confirmation window began; default appliedAt (the write). */
  windowFrom?: Date;
  /** The window ended before the gateways confirmed: the next attempt opens a new one. */
  failed?: boolean;
}

type RawEntry = [number, string, string] | [number, string, string, number, 0 | 1];
type Raw = Record<string, RawEntry>;

function parseRaw(tags: Readonly<Record<string, string>>): Raw {
  const out: Raw = {};
  for (const [k, e] of Object.entries(jsonTag(tags[TAG_KONG_CONFIRM]) ?? {}))
    if (Array.isArray(e) && typeof e[0] === "number" && typeof e[1] === "string" && typeof e[2] === "string")
      out[k] = typeof e[3] === "number" ? [e[0], e[1], e[2], e[3], e[4] === 1 ? 1 : 0] : [e[0], e[1], e[2]];
  return out;
}

/** Every target's recorded confirmation on a generation (an unreadable tag reads as none: confirmation restarts). */
export function confirmRecords(tags: Readonly<Record<string, string>>): Record<string, ConfirmRecord> {
  const out: Record<string, ConfirmRecord> = {};
  for (const [name, [at, baseline, lagging, from, failed]] of Object.entries(parseRaw(tags)))
    out[name] = {
      appliedAt: new Date(at * 1000),
      ...(baseline ? { baseline } : {}),
      lagging: lagging ? lagging.split(",") : [],
      ...(from !== undefined && from !== at ? { windowFrom: new Date(from * 1000) } : {}),
      ...((from === undefined ? lagging !== "" : failed === 1) ? { failed: true } : {}),
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
  if (record) {
    const at = Math.floor(record.appliedAt.getTime() / 1000);
    raw[target] = [
      at,
      record.baseline ?? "",
      record.lagging.join(","),
      record.windowFrom ? Math.floor(record.windowFrom.getTime() / 1000) : at,
      record.failed ? 1 : 0,
    ];
  } else delete raw[target];
  if (Object.keys(raw).length === 0) return { [TAG_KONG_CONFIRM]: undefined };
  let text = JSON.stringify(raw);
  if (text.length > MAX_VALUE) {
    for (const e of Object.values(raw)) e[2] = "";
    text = JSON.stringify(raw);
  }
  return { [TAG_KONG_CONFIRM]: text };
}
