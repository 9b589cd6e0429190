/** Dispatch one planned action to its step. */
import type { PlannedAction } from "../plan.js";
import { activateGeneration } from "./activate.js";
import type { StepContext, StepOutcome } from "./context.js";
import { createGeneration } from "./create.js";
import { publishGeneration } from "./publish.js";
import {
  disableVersion,
  markRetiring,
  removeLeaked,
  removeUnmanaged,
  removeUnusable,
  retireGeneration,
} from "./retire.js";
import { syncTarget } from "./sync.js";
import { rollbackGeneration } from "./rollback.js";
import { completeRequest } from "./request.js";
import { verifyGeneration } from "./verify.js";

export function executeAction(ctx: StepContext, action: PlannedAction): Promise<StepOutcome> {
  switch (action.kind) {
    case "create":
      return createGeneration(ctx);
    case "publish":
      return publishGeneration(ctx, action);
    case "verify":
      return verifyGeneration(ctx, action);
    case "activate":
      return activateGeneration(ctx, action);
    case "sync":
      return syncTarget(ctx, action);
    case "mark-retiring":
      return markRetiring(ctx, action);
    case "retire":
      return retireGeneration(ctx, action);
    case "remove-unusable":
      return removeUnusable(ctx, action);
    case "remove-leaked":
      return removeLeaked(ctx, action);
    case "disable":
      return disableVersion(ctx, action);
    case "remove-unmanaged":
      return removeUnmanaged(ctx, action);
    case "rollback":
      return rollbackGeneration(ctx, action);
    case "complete-request":
      return completeRequest(ctx, action);
  }
}
