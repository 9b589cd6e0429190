/**
 * One connection pool for the process's HTTP calls through undici (Kong Admin API, token endpoints, Okta,
 * Auth0, webhooks) and Node's fetch (the Graph client), which share undici's global dispatcher.
 *
 * undici's default keeps an idle connection 4 s and opens as many connections to an origin as there are
 * requests at once. A fleet's runs come back every few seconds (verification streaks) with dozens in flight,
 * so each run paid a new TCP + TLS handshake, and a new TLS context, per call: about a tenth of a worker's
 * CPU in the fleet benchmark (docs/performance.md, "Raised targets"). Here idle connections live 30 s (a
 * server's shorter `Keep-Alive: timeout` still wins) and an origin gets at most 16 at once, which also
 * bounds the sockets, and their buffers, that the runs in flight hold.
 */
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from "undici";

export const CONNECTIONS_PER_ORIGIN = 16;
const KEEP_ALIVE_MS = 30_000;

let shared: Agent | undefined;

/** Installs the shared pool as undici's global dispatcher (once per process); returns it. */
export function shareConnections(): Agent {
  if (!shared || getGlobalDispatcher() !== shared) {
    shared ??= new Agent({
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: 10 * KEEP_ALIVE_MS,
      connections: CONNECTIONS_PER_ORIGIN,
    });
    setGlobalDispatcher(shared);
  }
  return shared;
}
