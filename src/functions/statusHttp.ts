import type { HttpRequest, HttpResponseInit, InvocationContext } from "@azure/functions";
import { status } from "../app/service.js";
import { renderStatusPage } from "../app/status-page.js";
import { withSecretScope } from "../log/redact.js";
import { app } from "./app.js";
import { authMode, authorize, callerOf, readRoute } from "./auth.js";
import { errorResponse, html, json, prefersHtml, unknownCredential } from "./http.js";
import { functionsRuntime } from "./runtime.js";

/**
 * GET /api/credentials and /api/credentials/{name}: generations, targets, open alerts, last success/failure.
 * No secrets. With `Accept: text/html` preferred over JSON (a browser), the same views as the status page.
 * Both need Rotation.Reader when the platform signs callers in; then the routes need no function key, so
 * a browser reaches the page with the user's sign-in (auth.ts readAuthLevel).
 */
export function statusHttpHandler(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  return withSecretScope(() => handle(req, context));
}

async function handle(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const mode = authMode();
  const page = prefersHtml(req.headers.get("accept"));
  const decision = authorize(callerOf(req, mode), page ? "page" : "status", mode);
  if (!decision.allowed) return decision.response;
  const name = req.params.name;
  try {
    const rt = await functionsRuntime();
    const unknown = name === undefined ? undefined : unknownCredential(rt.config.credentials, name);
    if (unknown) return unknown;
    const views = await status(rt, name);
    if (page)
      return html(
        200,
        renderStatusPage(views, rt.clock.now(), { runbooks: process.env.RUNBOOK_BASE_URL || undefined }),
      );
    return json(200, name === undefined ? { credentials: views } : views[0]);
  } catch (e) {
    return errorResponse(e, context);
  }
}

app.http("listCredentials", readRoute("credentials", statusHttpHandler));
app.http("getCredential", readRoute("credentials/{name}", statusHttpHandler));
