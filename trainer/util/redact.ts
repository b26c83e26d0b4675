/**
 * Keeps credentials out of anything the publisher prints, throws or writes. Known secret values are replaced
 * wherever they occur; credential-shaped fragments (Authorization headers, X-Auth-Key, TOKEN=... assignments) are
 * masked even when the value was never registered, because a token can arrive by a path nobody registered.
 */
import { UserFacingError } from "./errors.ts";

const MASK = "[redacted]";

const PATTERNS: RegExp[] = [
  /(\bBearer\s+)[^\s"',;]+/gi,
  /(\bAuthorization["']?\s*[:=]\s*["']?)(?!Bearer\b)[^\s"',;]+/gi,
  /(\bX-Auth-Key["']?\s*[:=]\s*["']?)[^\s"',;]+/gi,
  /(\b[A-Z0-9_]*(?:TOKEN|API_KEY|SECRET|PASSWORD)[A-Z0-9_]*["']?\s*[:=]\s*["']?)[^\s"',;]+/g,
];

export type Redactor = (text: string) => string;

/** A redactor that masks the given secret values (empty or very short ones are ignored: they would mask everything). */
export function createRedactor(secrets: Iterable<string | undefined> = []): Redactor {
  const values = [...new Set([...secrets].filter((s): s is string => typeof s === "string" && s.length >= 6))];
  // Longest first, so a secret that contains another is masked whole.
  values.sort((a, b) => b.length - a.length);
  return (text: string) => {
    let out = text;
    for (const v of values) {
      out = out.split(v).join(MASK);
      // A secret can also appear percent-encoded (in a URL) or base64-encoded (in a header).
      const encoded = encodeURIComponent(v);
      if (encoded !== v) out = out.split(encoded).join(MASK);
    }
    for (const re of PATTERNS) out = out.replace(re, `$1${MASK}`);
    return out;
  };
}

/** Values of environment variables whose names say they hold a credential (…TOKEN, …API_KEY, …SECRET, …PASSWORD). */
export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return Object.entries(env)
    .filter(([name, value]) => value && /TOKEN|API_KEY|SECRET|PASSWORD/i.test(name))
    .map(([, value]) => value as string);
}

/**
 * A copy of an error with its message and stack redacted. The cause chain is folded into the message and dropped,
 * because a cause from fetch or a server can carry request details. A UserFacingError stays one (same exit code).
 */
export function redactError(error: unknown, redact: Redactor): Error {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? ` (cause: ${error.cause.message})` : "";
  const text = redact(message + cause);
  const out = error instanceof UserFacingError ? new UserFacingError(text, error.exitCode) : new Error(text);
  if (error instanceof Error) {
    out.name = error.name;
    out.stack = error.stack ? redact(error.stack) : undefined;
  }
  return out;
}
