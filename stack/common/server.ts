/**
 * HTTPS server plumbing shared by the fakes (plain http only where a test needs it): loopback only, a request log (for "no external mutation"
 * assertions), and fault injection (429 + Retry-After, 5xx, connection resets, hangs, garbage bodies) so
 * adapter retry behaviour is tested against real sockets.
 */
import { createServer } from "node:https";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Server, Socket } from "node:net";
import type { ServerTls } from "./tls.js";

export interface LoggedRequest {
  time: number;
  method: string;
  path: string;
  status: number;
  fault?: string;
}

export type Fault =
  | { kind: "status"; status: number; retryAfter?: string; body?: unknown; headers?: Record<string, string> }
  | { kind: "reset" }
  | { kind: "hang" }
  | { kind: "garbage"; status?: number; body?: string };

export interface FaultRule {
  method?: string;
  /** Substring or regular expression matched against the path (with query). */
  path?: string | RegExp;
  fault: Fault;
  /** How many matching requests get the fault; Infinity for a persistent fault. */
  times: number;
}

export class FaultInjector {
  private rules: FaultRule[] = [];
  add(rule: FaultRule): void {
    this.rules.push({ ...rule });
  }
  clear(): void {
    this.rules = [];
  }
  take(method: string, path: string): Fault | undefined {
    for (const r of this.rules) {
      if (r.times <= 0) continue;
      if (r.method && r.method.toUpperCase() !== method.toUpperCase()) continue;
      if (r.path && !(typeof r.path === "string" ? path.includes(r.path) : r.path.test(path))) continue;
      r.times--;
      return r.fault;
    }
    return undefined;
  }
}

export interface Request {
  method: string;
  url: URL;
  path: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
  raw: IncomingMessage;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: Request, res: ServerResponse) => Promise<Reply | undefined>;

/**
 * Test hook around the handler (chaos suite): "before" runs before the handler (the effect has not
 * happened), "after" once it returned (the effect has happened, the answer is not sent yet). Answering
 * "drop" closes the connection without an answer, as a process that died mid-call would see it.
 */
export type RequestHook = (stage: "before" | "after", req: Request) => Promise<"drop" | undefined>;

/** Holds the server's RequestHook; an object (like FaultInjector) so it survives fakes spreading the server. */
export class RequestHookSlot {
  current: RequestHook | undefined;
  set(hook: RequestHook | undefined): void {
    this.current = hook;
  }
}

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  requests: LoggedRequest[];
  faults: FaultInjector;
  /** Test hook around every handled request (unset by default). */
  hook: RequestHookSlot;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

export function sendJson(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  let payload: string | undefined;
  if (reply.body !== undefined) {
    payload = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    headers["content-type"] ??= "application/json; charset=utf-8";
  }
  res.writeHead(reply.status, headers);
  res.end(payload);
}

export function startHttpsServer(
  name: string,
  tls: ServerTls,
  handler: Handler,
  host = "127.0.0.1",
): Promise<RunningServer> {
  return startServer(name, tls, handler, host);
}

/** The same server over plain http (a receiver at http://127.0.0.1:PORT, which config accepts for loopback). */
export function startHttpServer(name: string, handler: Handler, host = "127.0.0.1"): Promise<RunningServer> {
  return startServer(name, undefined, handler, host);
}

async function startServer(
  name: string,
  tls: ServerTls | undefined,
  handler: Handler,
  host: string,
): Promise<RunningServer> {
  const requests: LoggedRequest[] = [];
  const faults = new FaultInjector();
  const sockets = new Set<Socket>();
  const hookSlot = new RequestHookSlot();
  const scheme = tls ? "https" : "http";
  const listener = (raw: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    raw.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
    });
    raw.on("end", () => {
      const url = new URL(raw.url ?? "/", `${scheme}://${raw.headers.host ?? host}`);
      const path = url.pathname + url.search;
      const method = raw.method ?? "GET";
      const entry: LoggedRequest = { time: Date.now(), method, path, status: 0 };
      requests.push(entry);
      res.on("finish", () => (entry.status = res.statusCode));
      if (size > MAX_BODY) return sendJson(res, { status: 413, body: { message: "request too large" } });
      const fault = faults.take(method, path);
      if (fault) {
        entry.fault = fault.kind;
        return applyFault(fault, raw, res);
      }
      const req: Request = {
        method,
        url,
        path: url.pathname,
        headers: raw.headers,
        body: Buffer.concat(chunks),
        raw,
      };
      const hook = hookSlot.current;
      const handle = hook
        ? async () => {
            if ((await hook("before", req)) === "drop") return void raw.socket.destroy();
            const reply = await handler(req, res);
            if ((await hook("after", req)) === "drop") return void raw.socket.destroy();
            if (reply) sendJson(res, reply);
          }
        : async () => {
            const reply = await handler(req, res);
            if (reply) sendJson(res, reply);
          };
      handle().catch((e: unknown) => {
        console.error(`[${name}] handler error`, e);
        sendJson(res, { status: 500, body: { error: "internal fake error" } });
      });
    });
  };
  const server = tls ? createServer({ cert: tls.cert, key: tls.key }, listener) : createHttpServer(listener);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${scheme}://${host}:${port}`,
    port,
    server,
    requests,
    faults,
    hook: hookSlot,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function applyFault(fault: Fault, raw: IncomingMessage, res: ServerResponse): void {
  switch (fault.kind) {
    case "status":
      return sendJson(res, {
        status: fault.status,
        body: fault.body ?? { error: { code: "InjectedFault", message: `injected ${fault.status}` } },
        headers: {
          ...(fault.retryAfter ? { "retry-after": fault.retryAfter } : {}),
          ...(fault.headers ?? {}),
        },
      });
    case "reset":
      raw.socket.destroy();
      return;
    case "hang":
      return;
    case "garbage":
      res.writeHead(fault.status ?? 200, { "content-type": "application/json" });
      res.end(fault.body ?? '{"value": [ {"trunc');
      return;
  }
}

export function parseJsonBody(req: Request): unknown {
  if (req.body.length === 0) return undefined;
  return JSON.parse(req.body.toString("utf8"));
}
