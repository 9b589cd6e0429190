/**
 * Child entry: records how every Azure Function registers itself (app.http / app.timer options) and
 * prints them as JSON. Function keys are enforced by the Functions host, not by our handlers, so the
 * check that matters is each HTTP function's authLevel: "function" everywhere, except the reads behind
 * the platform's sign-in (ROTATOR_AUTH_REQUIRED=true), which are "anonymous" (src/functions/auth.ts).
 */
import Module from "node:module";
import azureFunctions from "@azure/functions";

// Functions register only inside the Functions worker, which answers require("@azure/functions-core")
// (src/functions/app.ts): stand in for it, so that the registrations reach the recording stubs below.
Module.prototype.require = new Proxy(Module.prototype.require, {
  apply: (target, self, args: unknown[]) =>
    args[0] === "@azure/functions-core" ? {} : (Reflect.apply(target, self, args) as unknown),
});

const seen: { kind: string; name: string; authLevel?: string; route?: string; methods?: string[] }[] = [];
const app = azureFunctions.app as unknown as Record<string, unknown>;
app.http = (name: string, o: { authLevel?: string; route?: string; methods?: string[] }) =>
  void seen.push({
    kind: "http",
    name,
    ...(o.authLevel ? { authLevel: o.authLevel } : {}),
    ...(o.route ? { route: o.route } : {}),
    ...(o.methods ? { methods: o.methods } : {}),
  });
app.timer = (name: string) => void seen.push({ kind: "timer", name });
app.storageQueue = (name: string) => void seen.push({ kind: "queue", name });
await import("../src/functions/index.js");
process.stdout.write(JSON.stringify(seen));
