/**
 * What the fakes did with each request against the vendored API descriptions (./openapi.ts reports every
 * validation): which operations they served, and which requests they refused. Nothing is kept unless a
 * listener is registered: the test run's coverage report (test/spec-coverage.setup.ts,
 * test/spec-coverage.global.ts) registers one in every worker.
 */
export type SpecEvent =
  | { type: "served"; suite: string; operationId: string }
  | { type: "cost"; requests: number; checkMs: number; loadMs: number }
  | { type: "refused"; suite: string; method: string; path: string; reason: string; errors: string[] };

export type SpecListener = (event: SpecEvent) => void;

const listeners = new Set<SpecListener>();

export function addSpecListener(l: SpecListener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function noteSpecEvent(event: SpecEvent): void {
  for (const l of listeners) l(event);
}
