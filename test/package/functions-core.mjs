// Stands in for the Azure Functions Node.js worker when the function app's entry is loaded outside the host
// (package test, startup benchmark): `node --import ./functions-core.mjs ...`.
//
// The worker makes `@azure/functions-core` requirable by wrapping Module.prototype.require and answering
// that one name with its API object (azure-functions-nodejs-worker, src/setupCoreModule.ts); the
// `@azure/functions` library requires it lazily and calls registerFunction(metadata, callback) for each
// app.timer/app.http/... registration. This stub does the same and records the registrations in
// globalThis.__functionsCore so that the loader can report them.
import Module from "node:module";

const registered = [];
const coreApi = {
  version: "stub",
  hostVersion: "4.0.0-stub",
  registerHook: () => ({ dispose() {} }),
  setProgrammingModel: (model) => {
    coreApi.programmingModel = model;
  },
  getProgrammingModel: () => coreApi.programmingModel,
  registerFunction: (metadata, callback) => {
    registered.push({ metadata, callback });
    return { dispose() {} };
  },
  log: () => {},
  Disposable: class {
    dispose() {}
  },
};
globalThis.__functionsCore = { registered };

Module.prototype.require = new Proxy(Module.prototype.require, {
  apply(target, thisArg, args) {
    return args[0] === "@azure/functions-core" ? coreApi : Reflect.apply(target, thisArg, args);
  },
});
