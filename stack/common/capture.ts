/**
 * Test hook for the secret-hygiene checks (chaos suite, test/chaos): the fakes report every secret they
 * generate (private key members, admin tokens, client secrets) and every payload the
 * product sends to an alert webhook. Nothing is recorded unless a listener is registered, so the fakes
 * behave exactly as before when no hygiene check runs.
 */
export type SecretKind = "private-jwk-member" | "admin-token" | "client-secret" | "access-token";

export interface CaptureListener {
  secret?(kind: SecretKind, value: string): void;
  /** Something the product emitted that a fake received (an alert webhook payload). */
  output?(channel: string, text: string): void;
}

const listeners = new Set<CaptureListener>();

export function addCaptureListener(l: CaptureListener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function noteSecret(kind: SecretKind, value: string | undefined): void {
  if (!value) return;
  for (const l of listeners) l.secret?.(kind, value);
}

export function noteOutput(channel: string, text: string): void {
  for (const l of listeners) l.output?.(channel, text);
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi"] as const;

/** Report the private members of an RSA JWK. */
export function notePrivateJwk(jwk: Partial<Record<(typeof PRIVATE_MEMBERS)[number], unknown>>): void {
  if (listeners.size === 0) return;
  for (const m of PRIVATE_MEMBERS) {
    const v = jwk[m];
    if (typeof v === "string") noteSecret("private-jwk-member", v);
  }
}
