/* global process, console, performance */
// Loads a function app entry the way the Azure Functions Node.js worker does (dynamic import of package.json
// `main`, with @azure/functions-core provided by ./functions-core.mjs, which must be --import'ed first) and
// prints one JSON line on stdout:
//   { importMs, importCpuMs, connections: [..], registered: [{ name, bindings }], invoked?: { status, body } }
// `connections` lists every TCP connection and DNS lookup attempted while the entry was imported.
//
// Usage: node --import ./functions-core.mjs load-entry.mjs ENTRY [FUNCTION_NAME METHOD URL]
// With a function name, its registered handler is then called with an HTTP request, as the host would.
import dns from "node:dns";
import { createRequire } from "node:module";
import net from "node:net";
import { pathToFileURL } from "node:url";

const [entry, fnName, method, url] = process.argv.slice(2);
if (!entry) {
  console.error("usage: load-entry.mjs ENTRY [FUNCTION_NAME METHOD URL]");
  process.exit(2);
}

const connections = [];
let importing = true;
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  if (importing) connections.push({ kind: "connect", target: JSON.stringify(args[0]).slice(0, 200) });
  return connect.apply(this, args);
};
const lookup = dns.lookup;
dns.lookup = function (host, ...rest) {
  if (importing) connections.push({ kind: "dns", target: String(host) });
  return lookup.call(this, host, ...rest);
};

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await import(pathToFileURL(entry).href);
const importMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
importing = false;

const registered = globalThis.__functionsCore.registered;
const out = {
  importMs: Math.round(importMs * 10) / 10,
  // CPU time (user + system) of this process during the import: less sensitive than wall time to other
  // processes competing for the cores.
  importCpuMs: Math.round((cpu.user + cpu.system) / 100) / 10,
  connections,
  registered: registered.map((r) => ({ name: r.metadata.name, bindings: r.metadata.bindings })),
};

if (fnName) {
  const fn = registered.find((r) => r.metadata.name === fnName);
  if (!fn) throw new Error(`no function ${fnName} registered`);
  // The request and context classes of the library the tests use; the handler only reads them.
  const { HttpRequest, InvocationContext } = createRequire(import.meta.url)("@azure/functions");
  const request = new HttpRequest({ method, url, headers: {}, params: {} });
  const logs = [];
  const context = new InvocationContext({
    invocationId: "package-test",
    functionName: fnName,
    logHandler: (_level, ...args) => logs.push(args.map(String).join(" ")),
  });
  const res = await fn.callback(request, context);
  out.invoked = { status: res.status ?? 200, body: res.jsonBody ?? res.body ?? null, logs };
}

process.stdout.write(`${JSON.stringify(out)}\n`);
