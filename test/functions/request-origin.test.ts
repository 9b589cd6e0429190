/**
 * Where a manual request came from (src/app/request-origin.ts), on the local stack with the run store in
 * Azurite: a request the HTTP API or the CLI recorded is audited by them and never again; a
 * `rotator-request` tag written straight into Key Vault (what anybody with tag-write on the certificate
 * can do) is carried out, and the run that starts on it writes the audit line no API call wrote, marked
 * `origin: "tag"`, once, however many runs it takes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CREDENTIAL } from "../../stack/stack.js";
import { rotate } from "../../src/app/service.js";
import { TAG_PHASE, TAG_REQUEST } from "../../src/engine/tags.js";
import { mergeMark, MAX_REQUEST_MARKS } from "../../src/adapters/history/blob.js";
import { rotateHttpHandler } from "../../src/functions/rotateHttp.js";
import {
  CERT_NAME,
  clientPrincipal,
  expectNoSecrets,
  httpRequest,
  invocation,
  startHarness,
  withAppServiceAuth,
  type Harness,
} from "./harness.js";

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
  // The first generation, so that requests have a version to live on.
  const boot = await rotate(h.rt, CREDENTIAL, { trigger: "timer" });
  expect(boot.kind === "done" && boot.report.outcome).toBe("ok");
}, 60_000);

afterAll(async () => {
  if (!h) return;
  expectNoSecrets(h.stack, h.logs);
  await h.close();
});

const audits = () => h.events("ManualRotationAudit");
const tagAudits = (request: string) => audits().filter((e) => e.origin === "tag" && e.request === request);
const store = () => h.rt.enginePorts(h.rt.credential(CREDENTIAL)).store;
const marks = () => h.rt.history.requestMarks(CREDENTIAL);

/** Write a request into the active version's tags as a person with Key Vault tag-write would. */
async function writeRequestTag(id: string, by: string): Promise<void> {
  const active = (await store().listVersions(CERT_NAME)).find((v) => v.tags[TAG_PHASE] === "active");
  expect(active).toBeDefined();
  const request = JSON.stringify({ id, k: "rotate", at: new Date().toISOString(), f: 1, by, why: "by hand" });
  await store().updateVersion(CERT_NAME, active!.version, {
    tags: { ...active!.tags, [TAG_REQUEST]: request },
  });
}

describe("request origin", () => {
  it("an API request is noted before its tag, audited by the API only, and carried out", async () => {
    const res = await withAppServiceAuth(() =>
      rotateHttpHandler(
        httpRequest({
          method: "POST",
          route: `credentials/${CREDENTIAL}/rotate`,
          params: { name: CREDENTIAL },
          headers: {
            "x-ms-client-principal": clientPrincipal("olga@contoso.example", ["Rotation.Operator"]),
          },
          body: JSON.stringify({ force: true, reason: "drill" }),
        }),
        invocation("rotateCredential", "inv-api").context,
      ),
    );
    expect(res.status).toBe(202);
    const id = (res.jsonBody as { request?: { id: string } }).request?.id;
    expect(id).toBeDefined();
    expect(audits().filter((e) => e.invocationId === "inv-api")).toEqual([
      expect.objectContaining({ origin: "api", action: "force", actor: "olga@contoso.example" }),
    ]);
    expect(tagAudits(id!)).toEqual([]);
    expect(await marks()).toContainEqual(
      expect.objectContaining({ id, origin: "api", actor: "olga@contoso.example" }),
    );
  });

  it("a CLI request is noted with origin cli and not audited as a tag", async () => {
    const r = await rotate(h.rt, CREDENTIAL, {
      trigger: "cli",
      force: true,
      actor: "ops@host",
      reason: "cli",
    });
    const id = r.kind === "done" ? r.request?.request.id : undefined;
    expect(id).toBeDefined();
    expect(tagAudits(id!)).toEqual([]);
    expect(await marks()).toContainEqual(expect.objectContaining({ id, origin: "cli" }));
  });

  it("a request written straight into the tag is carried out and audited once as origin: tag", async () => {
    await writeRequestTag("feedf00d", "alice@contoso.example");
    // Kong refuses the push: the run fails, the request stays pending, and the next run picks it up again.
    h.stack.kong.faults.add({
      method: "PATCH",
      path: "/plugins/",
      fault: { kind: "status", status: 403, body: { message: "You cannot consume this service" } },
      times: Infinity,
    });
    try {
      const failed = await rotate(h.rt, CREDENTIAL, { trigger: "timer" });
      expect(failed.kind === "done" && failed.report.outcome).toBe("failed");
    } finally {
      h.stack.kong.faults.clear();
    }
    const done = await rotate(h.rt, CREDENTIAL, { trigger: "queue" });
    expect(done.kind === "done" && done.report.outcome).toBe("ok");
    const held = (await store().listVersions(CERT_NAME)).map((v) => v.tags[TAG_REQUEST] ?? "");
    expect(held.find((t) => t.includes('"feedf00d"'))).toMatch(/"s":"done"/);

    expect(tagAudits("feedf00d")).toEqual([
      expect.objectContaining({
        credential: CREDENTIAL,
        origin: "tag",
        action: "force",
        actor: "rotator-request tag",
        claimedBy: "alice@contoso.example",
        authenticated: false,
        trigger: "timer",
      }),
    ]);
    expect(await marks()).toContainEqual(expect.objectContaining({ id: "feedf00d", origin: "tag" }));
  });
});

describe("request marks", () => {
  it(`keep the newest ${MAX_REQUEST_MARKS} and one mark per id`, () => {
    let entry = {};
    for (let i = 0; i < MAX_REQUEST_MARKS + 5; i++)
      entry = mergeMark(entry, { id: `r${i}`, origin: "api", at: `t${i}` });
    entry = mergeMark(entry, { id: "r10", origin: "tag", at: "later" });
    const ids = (entry as { requests: { id: string }[] }).requests.map((m) => m.id);
    expect(ids).toHaveLength(MAX_REQUEST_MARKS);
    expect(ids.at(-1)).toBe("r10");
    expect(ids.filter((i) => i === "r10")).toHaveLength(1);
    expect(ids).not.toContain("r4");
  });
});
