/**
 * A local webhook receiver standing in for Slack, Teams and generic alert webhooks, so the demo and the
 * tests can see alerts arrive over real HTTPS. It records every accepted POST.
 *
 * Real behaviours reproduced:
 * - Webhooks take `POST` with a JSON body and answer 2xx on success: Slack answers 200 `ok`
 *   (https://api.slack.com/messaging/webhooks), Teams Workflows answer 202.
 * - Slack refuses a body that is not JSON with 400 `invalid_payload`, and a message with neither `text`
 *   nor `blocks` with 400 `no_text` (https://api.slack.com/messaging/webhooks#handling_errors). Paths
 *   starting with `/slack` get that validation.
 * - Teams webhooks expect `{type: "message", attachments: [{contentType, content}]}`
 *   (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook);
 *   paths starting with `/teams` answer 400 when that shape is missing.
 * - Throttling and outages, through `failNext(n, status)`: 429 and 503 carry `Retry-After: 1`, as
 *   both services send it when throttling.
 *
 * Not reproduced: Adaptive Card schema validation and rendering, Slack Block Kit validation beyond
 * the presence of text/blocks, message size limits, and the services' per-URL rate limits (only the
 * injected failures).
 */
import {
  parseJsonBody,
  startHttpServer,
  startHttpsServer,
  type Reply,
  type Request,
} from "./common/server.js";
import type { ServerTls } from "./common/tls.js";
import { noteOutput } from "./common/capture.js";

export interface ReceivedWebhook {
  path: string;
  body: unknown;
  at: number;
}

export interface RunningWebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** The next `n` POSTs answer `status` (default 500) and are not recorded. */
  failNext(n: number, status?: number): void;
  close(): Promise<void>;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

function teamsShapeOk(body: unknown): boolean {
  if (
    !isObject(body) ||
    body.type !== "message" ||
    !Array.isArray(body.attachments) ||
    body.attachments.length === 0
  )
    return false;
  return body.attachments.every(
    (a) => isObject(a) && typeof a.contentType === "string" && isObject(a.content),
  );
}

/**
 * `tls` undefined: plain http on 127.0.0.1, as a receiver reached through a local tunnel or sidecar
 * (the config accepts http for loopback webhook URLs).
 */
export async function startWebhookReceiver(tls: ServerTls | undefined): Promise<RunningWebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const text = (status: number, body: string) => ({
    status,
    body,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });

  const handler = async (req: Request): Promise<Reply> => {
    if (req.method !== "POST") return text(405, "method not allowed");
    let body: unknown;
    try {
      body = parseJsonBody(req);
    } catch {
      noteOutput("alert-webhook", req.body.toString("utf8"));
      return text(400, "invalid_payload");
    }
    noteOutput("alert-webhook", JSON.stringify(body));
    if (req.path.startsWith("/slack")) {
      if (!isObject(body)) return text(400, "invalid_payload");
      if (typeof body.text !== "string" && !Array.isArray(body.blocks)) return text(400, "no_text");
      received.push({ path: req.path, body, at: Date.now() });
      return text(200, "ok");
    }
    if (req.path.startsWith("/teams")) {
      if (!teamsShapeOk(body)) return text(400, "Bad payload: expected a message with card attachments");
      received.push({ path: req.path, body, at: Date.now() });
      return { status: 202 };
    }
    received.push({ path: req.path, body, at: Date.now() });
    return { status: 204 };
  };
  const server = tls
    ? await startHttpsServer("webhook-receiver", tls, handler)
    : await startHttpServer("webhook-receiver", handler);

  return {
    url: server.url,
    received,
    failNext(n, status = 500) {
      const throttled = status === 429 || status === 503;
      server.faults.add({
        method: "POST",
        times: n,
        fault: { kind: "status", status, ...(throttled ? { retryAfter: "1" } : {}) },
      });
    },
    close: () => server.close(),
  };
}
