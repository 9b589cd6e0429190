/**
 * Where a manual request came from. A request is a `rotator-request` tag on a certificate version, and
 * anyone who may write the certificate's tags can write one: it then starts a rotation or a rollback
 * without the API's role check, cooldown or audit line, and its `by` field says whatever the writer chose.
 *
 * A marker inside the tag would prove nothing (whoever writes the tag can copy it), so the marker lives
 * where a Key Vault tag writer cannot write: the run store (storage, `rotator-runs`). The HTTP API and the
 * CLI note each request's id there before they write its tag. A run that starts on a pending request
 * without a note writes the audit line that no API call wrote, with `origin: "tag"`, and notes the request
 * so that it is audited once. Best effort, like the rest of the run store: an unreadable store is logged
 * and the run goes on.
 */
import type { ManualRequest } from "../engine/requests.js";
import { toRotatorError } from "../errors.js";
import type { RequestMark } from "../ports/infrastructure.js";
import type { Runtime } from "./runtime.js";

/** Note a request the API or the CLI is about to record (before its tag is written). */
export async function noteRequestOrigin(
  rt: Pick<Runtime, "history" | "logger" | "clock">,
  credential: string,
  mark: Omit<RequestMark, "at">,
): Promise<void> {
  await rt.history
    .markRequest(credential, { ...mark, at: rt.clock.now().toISOString() })
    .catch((e: unknown) =>
      // The request still goes ahead; a run will then audit it as written by a tag, which says so.
      rt.logger.log("warn", "RequestOriginNotNoted", {
        credential,
        request: mark.id,
        origin: mark.origin,
        code: toRotatorError(e).code,
      }),
    );
}

/** Audit a pending request that no API call or CLI command noted: it was written straight into the tag. */
export async function auditRequestOrigin(
  rt: Pick<Runtime, "history" | "logger" | "clock">,
  credential: string,
  request: ManualRequest,
  trigger: string,
): Promise<void> {
  try {
    const marks = await rt.history.requestMarks(credential);
    if (marks.some((m) => m.id === request.id)) return;
    rt.logger.log("warn", "ManualRotationAudit", {
      credential,
      origin: "tag",
      action: request.kind === "rollback" ? "rollback" : request.force ? "force" : "rotate",
      request: request.id,
      requestedAt: request.requestedAt.toISOString(),
      actor: "rotator-request tag",
      // Whatever the tag's writer put in `by`: not an identity anybody checked.
      ...(request.actor ? { claimedBy: request.actor } : {}),
      authenticated: false,
      reason: request.reason,
      force: request.force,
      rollback: request.kind === "rollback",
      trigger,
    });
    await rt.history.markRequest(credential, {
      id: request.id,
      origin: "tag",
      at: rt.clock.now().toISOString(),
      ...(request.actor ? { actor: request.actor } : {}),
    });
  } catch (e) {
    rt.logger.log("warn", "RequestOriginUnknown", {
      credential,
      request: request.id,
      code: toRotatorError(e).code,
    });
  }
}
