/**
 * The function registrations (`app.http`, `app.timer`, `app.storageQueue`), made only inside the Functions
 * Node.js worker. The worker answers `require("@azure/functions-core")` (azure-functions-nodejs-worker,
 * src/setupCoreModule.ts); anywhere else (the demo, the CLI, tests that import a handler) the
 * `@azure/functions` library would switch to "test mode" and print a warning for every registration
 * ("Failed to detect the Azure Functions runtime…", "Skipping call to register function…"), and register
 * nothing. Here nothing is registered and nothing is printed. The package test loads the built entry with a
 * stand-in core module and checks that every function is registered (test/package).
 */
import { createRequire } from "node:module";
import { app as functionsApp } from "@azure/functions";

function inFunctionsWorker(): boolean {
  try {
    createRequire(import.meta.url)("@azure/functions-core");
    return true;
  } catch {
    return false;
  }
}

const skip = (): void => undefined;

/** Is this process the Functions worker? Hooks and setup (functions/telemetry.ts) apply only there too. */
export const inWorker = inFunctionsWorker();

export const app: Pick<typeof functionsApp, "http" | "timer" | "storageQueue"> = inWorker
  ? functionsApp
  : { http: skip, timer: skip, storageQueue: skip };
