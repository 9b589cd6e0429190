/**
 * Alert sink posting JSON to a webhook, in one of three formats:
 * - `generic`: the AlertEvent itself.
 * - `teams`: a message with one Adaptive Card attachment, the payload Teams incoming webhooks and
 *   Workflows ("When a Teams webhook request is received") accept
 *   (https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook).
 *   Card version 1.4, the highest these webhooks render.
 * - `slack`: `{text, blocks}` for Slack incoming webhooks (https://api.slack.com/messaging/webhooks);
 *   `text` is the notification fallback when blocks are present. Block limits from
 *   https://api.slack.com/reference/block-kit/blocks (header text 150 chars, section text 3000, 10
 *   fields); `&`, `<`, `>` escaped as https://api.slack.com/reference/surfaces/formatting#escaping asks.
 *
 * Delivery goes through withRetry and the shared rule (src/http/transient.ts): transient statuses honour
 * Retry-After (Slack and Teams both throttle webhooks with 429), lost connections and timeouts back off;
 * other 4xx fail at once (a revoked URL or a rejected payload does not heal by retrying).
 *
 * Webhook URLs are bearer capabilities: the URL is registered with the redactor and errors name only
 * the host. Every text field is passed through redactText before it is formatted. The configuration may
 * give a reference instead of the URL (`{ env }` or `{ keyVaultSecret }`): the sink reads it on first use
 * and is then named after the reference, never the URL.
 */
import { request, type Dispatcher } from "undici";
import { systemClock } from "../../clock.js";
import type { Clock, Logger } from "../../ports/engine.js";
import { RotatorError } from "../../errors.js";
import { urlProblem } from "../../config/rules.js";
import {
  defaultRetryPolicy,
  parseRetryAfter,
  withRetry,
  TimeoutError,
  type RetryPolicy,
} from "../../http/retry.js";
import { headerValue, HttpStatusError, isTransientStatus, retryDecision } from "../../http/transient.js";
import { silentLogger } from "../../log/logger.js";
import { redactText, registerProcessSecret } from "../../log/redact.js";
import type { AlertEvent, AlertSink } from "../../ports/infrastructure.js";

export type WebhookFormat = "generic" | "teams" | "slack";

export interface WebhookSinkOptions {
  url: string;
  format?: WebhookFormat;
  /** The sink's name (default: format and host, webhookSinkName). */
  name?: string;
  clock?: Clock;
  retryPolicy?: RetryPolicy;
  logger?: Logger;
  dispatcher?: Dispatcher;
}

/** Alerts are small and time-sensitive: give up after about a minute rather than the default's budget. */
const WEBHOOK_RETRY: RetryPolicy = {
  ...defaultRetryPolicy,
  maxAttempts: 4,
  attemptTimeoutMs: 10_000,
  maxRetryAfterMs: 60_000,
};

const TITLES: Record<AlertEvent["event"], string> = {
  KeyRotationFailed: "Key rotation failed",
  KeySyncDrift: "Kong key out of sync",
  KeyExpiring: "Key expiring",
  KeyRotationSucceeded: "Key rotated",
  KeyCompromiseRotation: "Compromised key revoked",
};

const STATUS_LABEL: Record<AlertEvent["status"], string> = {
  firing: "FIRING",
  reminder: "STILL FIRING",
  resolved: "RESOLVED",
  info: "INFO",
};

export function createWebhookSink(opts: WebhookSinkOptions): AlertSink {
  // The config schema applies the same rule, so a configured URL never fails here.
  const problem = urlProblem(opts.url, "loopback-http");
  if (problem)
    throw new RotatorError(
      "ALERT_WEBHOOK_INVALID",
      `alert webhook URL ${problem}`,
      "Set alerts.webhooks[].url to the webhook's https URL (plain http only to 127.0.0.1 / localhost).",
    );
  const url = new URL(opts.url);
  // Lives as long as the runtime that holds the sink (configuration): registered for the process.
  registerProcessSecret(opts.url);
  const format = opts.format ?? "generic";
  const name = opts.name ?? webhookSinkName(url.host, format);
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;

  return {
    name,
    async send(event) {
      const body = JSON.stringify(formatAlert(redactEvent(event), format));
      try {
        await withRetry(
          async (_attempt, signal) => {
            const res = await request(url, {
              method: "POST",
              headers: { "content-type": "application/json; charset=utf-8" },
              body,
              signal,
              ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
            });
            // The answer's body is never read into errors or logs; drain it to free the connection.
            await res.body.dump();
            if (res.statusCode >= 200 && res.statusCode < 300) return;
            throw new HttpStatusError(
              res.statusCode,
              parseRetryAfter(headerValue(res.headers, "retry-after"), clock.now()),
            );
          },
          (e) => retryDecision(e),
          {
            policy: opts.retryPolicy ?? WEBHOOK_RETRY,
            clock,
            onRetry: (r) =>
              logger.log("warn", "AlertWebhookRetry", {
                sink: name,
                attempt: r.attempt,
                delayMs: r.delayMs,
                reason: r.reason,
              }),
          },
        );
      } catch (e) {
        throw webhookError(e, name);
      }
    },
  };
}

/** A webhook sink's name: its format and host only (the URL is a credential). */
export function webhookSinkName(host: string, format: WebhookFormat): string {
  return `webhook:${format}:${host}`;
}

/** How a webhook's URL is configured: the URL itself, or where to read it. */
export type WebhookUrlSource = string | { env: string } | { keyVaultSecret: string };

/**
 * The name of the sink for a configured URL: the host of a literal URL, the reference otherwise (the
 * alert state keys on it, so it must not change when the referenced value does).
 */
export function webhookSinkNameOf(url: WebhookUrlSource, format: WebhookFormat = "generic"): string {
  if (typeof url !== "string")
    return webhookSinkName("env" in url ? `env:${url.env}` : `keyVaultSecret:${url.keyVaultSecret}`, format);
  try {
    return webhookSinkName(new URL(url).host, format);
  } catch {
    return webhookSinkName("(invalid URL)", format);
  }
}

export interface DeferredWebhookSinkOptions extends Omit<WebhookSinkOptions, "url" | "name"> {
  url: WebhookUrlSource;
  /** Reads a referenced URL (an environment variable, a Key Vault secret); a literal URL needs none. */
  resolve?: (url: WebhookUrlSource) => Promise<string>;
}

const literalOnly = async (url: WebhookUrlSource): Promise<string> => {
  if (typeof url === "string") return url;
  throw new RotatorError(
    "ALERT_WEBHOOK_INVALID",
    "alert webhook URL is a reference and nothing can read it here",
    "Build the sink with a resolver (the runtime's webhookUrl).",
  );
};

/**
 * A webhook sink that never stops its caller from starting: when the sink cannot be built (a URL the
 * config did not validate, e.g. from code, or a reference that cannot be read), each send fails with that
 * error, so the alerter logs it with its code and keeps the notification for the next attempt, which
 * builds again. A referenced URL is read again after a failed delivery: a revoked webhook replaced in Key
 * Vault is picked up without a restart.
 */
export function createDeferredWebhookSink(opts: DeferredWebhookSinkOptions): AlertSink {
  const { url, resolve = literalOnly, ...rest } = opts;
  const name = webhookSinkNameOf(url, opts.format ?? "generic");
  let sink: AlertSink | undefined;
  return {
    name,
    async send(event) {
      sink ??= createWebhookSink({ ...rest, name, url: await resolve(url) });
      try {
        await sink.send(event);
      } catch (e) {
        if (typeof url !== "string") sink = undefined;
        throw e;
      }
    },
  };
}

function webhookError(e: unknown, name: string): RotatorError {
  if (e instanceof HttpStatusError) {
    const hint =
      e.status === 400
        ? "The webhook rejected the payload: check that the configured format (generic, teams, slack) matches the receiver."
        : e.status === 401 || e.status === 403 || e.status === 404 || e.status === 410
          ? "The webhook URL was refused: it may have been revoked or mistyped; create a new one and update alerts.webhooks."
          : "The webhook receiver is failing or throttling; alerts are still in the logs.";
    return new RotatorError("ALERT_WEBHOOK_FAILED", `${name}: HTTP ${e.status}`, hint, {
      status: e.status,
      retryable: isTransientStatus(e.status),
    });
  }
  const reason =
    e instanceof TimeoutError
      ? "timed out"
      : e instanceof Error && "code" in e && typeof e.code === "string"
        ? e.code
        : "request failed";
  return new RotatorError(
    "ALERT_WEBHOOK_UNREACHABLE",
    `${name}: ${reason}`,
    "The webhook host could not be reached; check DNS, egress rules and the URL's host.",
    { retryable: true },
  );
}

function redactEvent(e: AlertEvent): AlertEvent {
  const out: AlertEvent = {
    ...e,
    credential: redactText(e.credential),
    message: redactText(e.message),
    time: e.time,
  };
  if (e.target !== undefined) out.target = redactText(e.target);
  if (e.phase !== undefined) out.phase = redactText(e.phase);
  if (e.code !== undefined) out.code = redactText(e.code);
  if (e.hint !== undefined) out.hint = redactText(e.hint);
  if (e.actor !== undefined) out.actor = redactText(e.actor);
  if (e.reason !== undefined) out.reason = redactText(e.reason);
  return out;
}

function titleOf(e: AlertEvent): string {
  return `[${STATUS_LABEL[e.status]}] ${TITLES[e.event]}: ${e.credential}${e.target ? ` / ${e.target}` : ""}`;
}

function factsOf(e: AlertEvent): Array<[string, string]> {
  const facts: Array<[string, string]> = [["Credential", e.credential]];
  if (e.target) facts.push(["Kong target", e.target]);
  if (e.phase) facts.push(["Phase", e.phase]);
  if (e.trigger) facts.push(["Trigger", e.trigger]);
  if (e.code) facts.push(["Code", e.code]);
  if (e.actor) facts.push(["Operator", e.actor]);
  if (e.reason) facts.push(["Reason", e.reason]);
  if (e.revoked) facts.push(["Revoked", e.revoked.join(", ") || "(none)"]);
  facts.push(["Status", e.status], ["Time", e.time]);
  return facts;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** The request body for a format. Exported for unit tests; callers go through createWebhookSink. */
export function formatAlert(e: AlertEvent, format: WebhookFormat): unknown {
  switch (format) {
    case "generic":
      return e;
    case "teams":
      return {
        type: "message",
        attachments: [
          {
            contentType: "application/vnd.microsoft.card.adaptive",
            contentUrl: null,
            content: {
              $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
              type: "AdaptiveCard",
              version: "1.4",
              msteams: { width: "Full" },
              body: [
                {
                  type: "TextBlock",
                  size: "Medium",
                  weight: "Bolder",
                  wrap: true,
                  color: e.status === "resolved" || e.status === "info" ? "Good" : "Attention",
                  text: titleOf(e),
                },
                { type: "TextBlock", wrap: true, text: truncate(e.message, 4000) },
                { type: "FactSet", facts: factsOf(e).map(([title, value]) => ({ title, value })) },
                ...(e.hint
                  ? [
                      {
                        type: "TextBlock",
                        wrap: true,
                        isSubtle: true,
                        text: `Hint: ${truncate(e.hint, 2000)}`,
                      },
                    ]
                  : []),
              ],
            },
          },
        ],
      };
    case "slack": {
      const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
      return {
        text: truncate(`${titleOf(e)}: ${e.message}`, 3000),
        blocks: [
          { type: "header", text: { type: "plain_text", text: truncate(titleOf(e), 150) } },
          { type: "section", text: { type: "mrkdwn", text: truncate(esc(e.message), 3000) } },
          {
            type: "section",
            fields: factsOf(e).map(([k, v]) => ({
              type: "mrkdwn",
              text: truncate(`*${k}*\n${esc(v)}`, 2000),
            })),
          },
          ...(e.hint
            ? [
                {
                  type: "context",
                  elements: [{ type: "mrkdwn", text: truncate(`Hint: ${esc(e.hint)}`, 3000) }],
                },
              ]
            : []),
        ],
      };
    }
  }
}
