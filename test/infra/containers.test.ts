/**
 * The Bicep creates the rotator's blob containers and scopes the operator's storage role to exactly them
 * (infra/main.bicep rotatorContainerNames, infra/app/rbac.bicep): the list must be the containers the code
 * uses, or the CLI would be refused on a container the role does not cover.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_LEASE_CONTAINER } from "../../src/adapters/lease/blob.js";
import { DEFAULT_ALERT_CONTAINER } from "../../src/adapters/alerts/state-blob.js";
import { DEFAULT_HISTORY_CONTAINER } from "../../src/adapters/history/blob.js";

const main = readFileSync(join(import.meta.dirname, "..", "..", "infra", "main.bicep"), "utf8");

describe("the rotator's storage containers in the Bicep", () => {
  it("are the containers the code uses", () => {
    const list = /^var rotatorContainerNames = \[([^\]]*)\]/m.exec(main)?.[1];
    expect(list, "infra/main.bicep declares rotatorContainerNames").toBeDefined();
    const names = [...list!.matchAll(/'([^']+)'/g)].map((m) => m[1]);
    expect(names.sort()).toEqual(
      [DEFAULT_LEASE_CONTAINER, DEFAULT_ALERT_CONTAINER, DEFAULT_HISTORY_CONTAINER].sort(),
    );
  });
});
