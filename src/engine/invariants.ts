/**
 * The brief's invariants as a checker over a world view (what Kong holds, what the app lists, what the
 * token endpoint accepts, and the generations' phases). Engine tests run it after every external call;
 * the chaos suite builds the same view from the local stack.
 */
export interface WorldView {
  generations: { version: string; x5t?: string; phase?: string; enabled: boolean; activatedAt?: string }[];
  /** The app's keyCredentials. */
  appKeys: { keyId: string; x5t?: string }[];
  /** Thumbprints the token endpoint accepts right now (registered and propagated). */
  accepted: readonly string[];
  /** Kids each Kong target's plugins hold (plugins without a key are omitted). */
  kong: { target: string; kids: readonly string[] }[];
}

export type InvariantName = "no-outage" | "no-leak" | "one-active";

export interface Violation {
  invariant: InvariantName;
  message: string;
}

export interface InvariantOptions {
  /**
   * Between runs exactly one generation may be active. During a run, activation tags the new generation
   * before demoting the old one, so two may be active for an instant; then the newest activatedAt must
   * still be unambiguous.
   */
  settled?: boolean;
}

export function checkInvariants(w: WorldView, options: InvariantOptions = {}): Violation[] {
  const out: Violation[] = [];
  const listed = new Set(w.appKeys.map((k) => k.x5t).filter((x): x is string => x !== undefined));
  const accepted = new Set(w.accepted);
  for (const t of w.kong)
    for (const kid of new Set(t.kids)) {
      if (!listed.has(kid))
        out.push({
          invariant: "no-outage",
          message: `Kong target ${t.target} holds ${kid}, which the app does not list`,
        });
      else if (!accepted.has(kid))
        out.push({
          invariant: "no-outage",
          message: `Kong target ${t.target} holds ${kid}, which the token endpoint does not accept yet`,
        });
    }

  for (const k of w.appKeys) {
    const g = w.generations.find((x) => x.x5t !== undefined && x.x5t === k.x5t);
    if (g && (g.phase === "retired" || !g.enabled))
      out.push({
        invariant: "no-leak",
        message: `the app lists keyId ${k.keyId} of ${g.phase === "retired" ? "retired" : "disabled"} generation ${g.version}`,
      });
  }

  const actives = w.generations.filter((g) => g.phase === "active");
  if (actives.length > 1) {
    const times = actives.map((g) => (g.activatedAt ? Date.parse(g.activatedAt) : Number.NaN));
    const newest = Math.max(...times);
    const ambiguous = times.some((t) => Number.isNaN(t)) || times.filter((t) => t === newest).length > 1;
    if (options.settled || ambiguous)
      out.push({
        invariant: "one-active",
        message: `${actives.length} generations are active: ${actives.map((g) => g.version).join(", ")}`,
      });
  }
  return out;
}
