/**
 * Preflight check lines shared by `doctor` and `adopt`: one line per fact, with a status, a stable code,
 * a message built from identifiers only (never key material or tokens) and a hint for anything not passing.
 */
import { ConfigError } from "../config/load.js";
import { toRotatorError } from "../errors.js";

export type CheckStatus = "pass" | "info" | "warn" | "fail";
export type CheckArea = "config" | "keyvault" | "idp" | "kong" | "storage" | "alerts" | "certificate";

export interface Check {
  status: CheckStatus;
  area: CheckArea;
  code: string;
  message: string;
  hint?: string;
  credential?: string;
  /** Kong target name, when the line is about one. */
  target?: string;
}

export interface CheckReport {
  /** No line failed (warnings allowed). */
  ok: boolean;
  counts: Record<CheckStatus, number>;
  checks: Check[];
}

export function report(checks: Check[]): CheckReport {
  const counts: Record<CheckStatus, number> = { pass: 0, info: 0, warn: 0, fail: 0 };
  for (const c of checks) counts[c.status]++;
  return { ok: counts.fail === 0, counts, checks };
}

/** A thrown error as a check line: its code, message and hint (RotatorError messages are secret-free). */
export function errorCheck(
  area: CheckArea,
  e: unknown,
  scope: { credential?: string; target?: string } = {},
  status: CheckStatus = "fail",
): Check {
  const err = toRotatorError(e);
  return { status, area, code: err.code, message: err.message, hint: err.hint, ...scope };
}

/** Configuration problems as fail lines, one per invalid field with its path. */
export function configChecks(e: unknown): Check[] {
  if (e instanceof ConfigError)
    return e.issues.map((i) => ({
      status: "fail",
      area: "config",
      code: "CONFIG_INVALID",
      message: `${i.path || "(root)"}: ${i.message}`,
      hint: e.hint,
    }));
  return [errorCheck("config", e)];
}
