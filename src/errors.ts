/**
 * Typed errors with a stable machine-readable `code` and a human `hint` (style of panva/jose's errors).
 *
 * Messages and hints must never contain key material or tokens: build them from identifiers
 * (plugin ids, key ids, thumbprints, HTTP statuses), never from response bodies that may hold secrets.
 */
export interface RotatorErrorOptions {
  /** HTTP status of the failed upstream call, when there was one. */
  status?: number;
  /** True when retrying the same call later may succeed (throttling, 5xx, timeouts). */
  retryable?: boolean;
  /** Safe, structured detail (field paths, ids). Never secrets. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class RotatorError extends Error {
  override readonly name = "RotatorError";
  readonly code: string;
  readonly hint: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, hint: string, options: RotatorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** The safe, serialisable view used in logs, alerts, HTTP responses and CLI output. */
  toJSON(): {
    code: string;
    message: string;
    hint: string;
    status?: number;
    details?: Record<string, unknown>;
  } {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.status === undefined ? {} : { status: this.status }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

export function isRotatorError(e: unknown): e is RotatorError {
  return e instanceof RotatorError;
}

/** Codes that mean "the configuration or environment is wrong", not "a dependency failed". */
export function isConfigurationError(code: string): boolean {
  return /^CONFIG_|_NOT_CONFIGURED$|_CONFIG_INVALID$/.test(code);
}

/** Wrap anything thrown into a RotatorError without copying its message verbatim into hints. */
export function toRotatorError(e: unknown, fallbackCode = "INTERNAL"): RotatorError {
  if (e instanceof RotatorError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new RotatorError(fallbackCode, message, "Unexpected failure; see logs for the failing step.", {
    cause: e,
  });
}
