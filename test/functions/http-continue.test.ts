/**
 * A manual rotation over HTTP that outlives its response budget (ROTATE_HTTP_BUDGET, here 2 s against a
 * 6 s propagation at the IdP) answers 202 with `continuing: true` and hands the rest to the queue function
 * at once, which finishes it: no waiting for the next timer tick.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createRuntime, type Runtime } from "../../src/app/runtime.js";
import { status } from "../../src/app/service.js";
import { parseConfig } from "../../src/config/load.js";
import { setFunctionsRuntime } from "../../src/functions/runtime.js";
import { jsonLogger } from "../../src/log/logger.js";
import { CREDENTIAL, startLocalStack, type LocalStack } from "../../stack/stack.js";
import {
  bodyText,
  clientPrincipal,
  httpRequest,
  invocation,
  startQueueWorkers,
  withAppServiceAuth,
} from "./harness.js";

let stack: LocalStack;
let rt: Runtime;
let workers: Awaited<ReturnType<typeof startQueueWorkers>>;

beforeAll(async () => {
  stack = await startLocalStack({
    policy: { verifyInterval: "PT0.3S", verifyConsecutive: 2, verifyTimeout: "PT60S", forceCooldown: "PT0S" },
    propagationDelayMs: 6_000,
  });
  rt = createRuntime({
    config: parseConfig(stack.config),
    env: stack.env,
    logger: jsonLogger(() => undefined),
  });
  setFunctionsRuntime(rt);
  workers = await startQueueWorkers(stack);
}, 60_000);

afterAll(async () => {
  await workers?.stop();
  setFunctionsRuntime(undefined);
  await stack?.close();
});

it("a rotation that outlives the HTTP budget continues on the queue and completes", async () => {
  process.env.ROTATE_HTTP_BUDGET = "PT2S";
  const { rotateHttpHandler } = await import("../../src/functions/rotateHttp.js");
  const { context } = invocation("rotateCredential");
  const res = await withAppServiceAuth(() =>
    rotateHttpHandler(
      httpRequest({
        method: "POST",
        route: `credentials/${CREDENTIAL}/rotate`,
        params: { name: CREDENTIAL },
        headers: { "x-ms-client-principal": clientPrincipal("olga@contoso.example", ["Rotation.Operator"]) },
        body: "{}",
      }),
      context,
    ),
  );
  expect(res.status, bodyText(res)).toBe(202);
  expect(JSON.parse(bodyText(res))).toMatchObject({ continuing: true, continuesOn: "queue" });

  const deadline = Date.now() + 45_000;
  let active: string | undefined;
  while (Date.now() < deadline && !active) {
    await new Promise((r) => setTimeout(r, 500));
    const [view] = await status(rt, CREDENTIAL);
    active = view?.active;
  }
  expect(active).toBeDefined();
  expect(workers.lines.some((l) => l.includes(CREDENTIAL))).toBe(true);
  expect(await stack.probe()).toMatchObject({ ok: true, kid: active });
}, 90_000);
