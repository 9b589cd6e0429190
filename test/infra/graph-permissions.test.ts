/**
 * scripts/graph-permissions.sh against a fake `az rest` (test/infra/fake-az.ts) holding a small Graph
 * directory: Microsoft Graph's service principal with its app roles, the rotator's managed identity and
 * the Entra app it rotates. Checks what each mode grants and removes, and that the default grants nothing.
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeEach, describe, expect, it } from "vitest";
import type { FakeDirectory } from "./fake-az.js";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPT = join(ROOT, "scripts", "graph-permissions.sh");

// Microsoft Graph's appId is fixed; role ids are looked up by value, so these are arbitrary.
const GRAPH = { id: "sp-graph", appId: "00000003-0000-0000-c000-000000000000" };
const READ = "role-read-all";
const OWNED_BY = "role-readwrite-ownedby";
const MI = { id: "sp-identity", appId: "mi-client-id" };
const APP = { id: "app-object", appId: "app-client-id" };

let dir: string;
let state: string;

function seed(
  d: Partial<Pick<FakeDirectory, "writes">> & { assignments?: string[]; owners?: string[] } = {},
): void {
  const directory: FakeDirectory = {
    servicePrincipals: [
      {
        ...GRAPH,
        appRoles: [
          { id: READ, value: "Application.Read.All" },
          { id: OWNED_BY, value: "Application.ReadWrite.OwnedBy" },
          { id: "role-readwrite-all", value: "Application.ReadWrite.All" },
        ],
        assignments: [],
      },
      {
        ...MI,
        appRoles: [],
        assignments: (d.assignments ?? []).map((r, i) => ({
          id: `a${i}`,
          principalId: MI.id,
          resourceId: GRAPH.id,
          appRoleId: r,
        })),
      },
    ],
    applications: [{ ...APP, owners: d.owners ?? [] }],
    writes: [],
  };
  writeFileSync(state, JSON.stringify(directory));
}

const directory = () => JSON.parse(readFileSync(state, "utf8")) as FakeDirectory;
const roles = () =>
  directory()
    .servicePrincipals.find((s) => s.id === MI.id)!
    .assignments.map((a) => a.appRoleId)
    .sort();
const owners = () => directory().applications[0]!.owners;

async function script(...args: string[]): Promise<string> {
  const { stdout } = await run("bash", [SCRIPT, ...args], {
    env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ""}`, FAKE_AZ_STATE: state },
  });
  return stdout;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fake-az-"));
  state = join(dir, "directory.json");
  const az = join(dir, "az");
  writeFileSync(
    az,
    `#!/bin/sh\nexec "${process.execPath}" --experimental-strip-types --no-warnings "${join(import.meta.dirname, "fake-az.ts")}" "$@"\n`,
  );
  chmodSync(az, 0o755);
});

describe("scripts/graph-permissions.sh", () => {
  it("grants nothing by default and reports the current state", async () => {
    seed({ assignments: [READ] });
    const out = await script("--identity", MI.appId, "--app", APP.appId);
    expect(out).toContain("Application.Read.All: granted");
    expect(out).toContain("Application.ReadWrite.OwnedBy: not granted");
    expect(out).toContain("owner of app app-client-id (object app-object): no");
    expect(directory().writes).toEqual([]);
  });

  it("--read grants Application.Read.All only, once", async () => {
    seed();
    await script("--identity", MI.appId, "--read");
    await script("--identity", MI.id, "--read");
    expect(roles()).toEqual([READ]);
    expect(owners()).toEqual([]);
    expect(directory().writes).toEqual([`POST /servicePrincipals/${MI.id}/appRoleAssignments`]);
  });

  it("--bootstrap grants OwnedBy and makes the identity an owner of the app, idempotently", async () => {
    seed();
    await script("--identity", MI.appId, "--app", APP.appId, "--bootstrap");
    await script("--identity", MI.appId, "--app", APP.appId, "--bootstrap");
    expect(roles()).toEqual([OWNED_BY]);
    expect(owners()).toEqual([MI.id]);
    expect(directory().writes).toHaveLength(2);
  });

  it("--revoke-bootstrap keeps read access and removes OwnedBy and the ownership", async () => {
    seed({ assignments: [OWNED_BY], owners: [MI.id, "someone-else"] });
    await script("--identity", MI.appId, "--app", APP.appId, "--revoke-bootstrap");
    expect(roles()).toEqual([READ]);
    expect(owners()).toEqual(["someone-else"]);
  });

  it("--dry-run changes nothing", async () => {
    seed();
    const out = await script("--identity", MI.appId, "--app", APP.appId, "--bootstrap", "--dry-run");
    expect(out).toContain(
      `[dry-run] post https://graph.microsoft.com/v1.0/servicePrincipals/${MI.id}/appRoleAssignments`,
    );
    expect(out).toContain(
      `[dry-run] post https://graph.microsoft.com/v1.0/applications/${APP.id}/owners/$ref`,
    );
    expect(directory().writes).toEqual([]);
  });
});
