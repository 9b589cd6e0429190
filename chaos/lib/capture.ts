/**
 * Secret hygiene for the chaos run: everything the product emits (CLI output, log lines, alert webhook
 * payloads, HTTP function responses, error messages and hints) is captured, and checked at the end against
 * every secret the stack generated (private JWK members, admin token, client secret) and against the
 * shapes of secrets (a PEM private key, a JWT, a bearer token).
 */
import { addCaptureListener } from "../../stack/common/capture.js";

export interface Leak {
  channel: string;
  what: string;
  excerpt: string;
}

/** Shapes that must never appear in anything the product emits. */
export const SECRET_SHAPES: { what: string; re: RegExp }[] = [
  { what: "PEM private key", re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  {
    what: "JWT (access token, assertion or proof)",
    re: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/,
  },
  { what: "bearer token", re: /Bearer\s+(?!\[REDACTED\])[A-Za-z0-9._~+/-]{16,}/i },
  { what: "private JWK member", re: /"(?:d|p|q|dp|dq|qi)"\s*:\s*"[A-Za-z0-9_-]{16,}"/ },
];

/** Mask all but the first characters of a secret-looking excerpt, so the report itself leaks nothing. */
const mask = (s: string) => `${s.slice(0, 6)}…(${s.length} chars)`;

export function findLeaks(channel: string, text: string, secrets: Iterable<[string, string]>): Leak[] {
  const leaks: Leak[] = [];
  for (const { what, re } of SECRET_SHAPES) {
    const m = re.exec(text);
    if (m) leaks.push({ channel, what, excerpt: mask(m[0]) });
  }
  for (const [value, kind] of secrets)
    if (value.length >= 12 && text.includes(value)) leaks.push({ channel, what: kind, excerpt: mask(value) });
  return leaks;
}

export class Capture {
  readonly secrets = new Map<string, string>();
  private readonly chunks: { channel: string; text: string }[] = [];
  private stop: () => void;
  bytes = 0;
  items = 0;

  constructor() {
    this.stop = addCaptureListener({
      secret: (kind, value) => void this.secrets.set(value, kind),
      output: (channel, text) => this.add(channel, text),
    });
  }

  add(channel: string, text: string): void {
    if (!text) return;
    this.chunks.push({ channel, text });
    this.bytes += Buffer.byteLength(text);
    this.items++;
  }

  addSecret(kind: string, value: string | undefined): void {
    if (value) this.secrets.set(value, kind);
  }

  /** Check everything captured so far; returns the leaks found (none expected). */
  check(): Leak[] {
    const out: Leak[] = [];
    for (const c of this.chunks) out.push(...findLeaks(c.channel, c.text, this.secrets));
    return out;
  }

  /** How many captured items of a channel match. */
  count(channel: string, re: RegExp): number {
    return this.chunks.filter((c) => c.channel === channel && re.test(c.text)).length;
  }

  channels(): Record<string, number> {
    const n: Record<string, number> = {};
    for (const c of this.chunks) n[c.channel] = (n[c.channel] ?? 0) + 1;
    return n;
  }

  close(): void {
    this.stop();
  }
}
