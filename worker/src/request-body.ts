/**
 * Reading a JSON request body the same way on every route: the size limit (413), the declared media type (415),
 * JSON syntax (400 invalid_json), and validation issues turned into one 400 whose code names the first problem.
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { MALFORMED_ID_CODE } from "../../shared/ids.ts";
import { formatIssues } from "../../shared/manifest.ts";
import type { AppEnv } from "./admin-auth.ts";
import { settingsOf } from "./env.ts";
import { ServiceError } from "./errors.ts";

/** Refuses a body over MAX_BODY_BYTES with 413 payload_too_large. */
export const jsonBodyLimit: MiddlewareHandler<AppEnv> = (c, next) =>
  bodyLimit({
    maxSize: settingsOf(c.env).maxBodyBytes,
    onError: () => {
      throw new ServiceError(413, "payload_too_large", `request body is over ${settingsOf(c.env).maxBodyBytes} bytes`);
    },
  })(c, next);

/** application/json or any +json type; a request without a content-type is read as JSON too. */
function isJsonMediaType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === "") return true;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type);
}

const utf8 = new TextDecoder();

/** The parsed JSON body; 415 when the body is declared as another media type, 400 when it is not JSON. */
export async function readJsonBody(req: {
  header(name: string): string | undefined;
  arrayBuffer(): Promise<ArrayBuffer>;
}): Promise<unknown> {
  const contentType = req.header("content-type");
  if (!isJsonMediaType(contentType)) {
    throw new ServiceError(415, "unsupported_media_type", `the body must be application/json, not ${contentType?.slice(0, 100)}`);
  }
  try {
    // Bytes decoded here rather than Request.text(), which makes workerd warn about a body without a content-type.
    return JSON.parse(utf8.decode(await req.arrayBuffer()));
  } catch {
    throw new ServiceError(400, "invalid_json", "request body is not valid JSON");
  }
}

/** The error code a client sees for one validation issue. */
export function issueCode(issue: z.core.$ZodIssue): string {
  if (issue.code === "custom" && issue.params?.code === MALFORMED_ID_CODE) return MALFORMED_ID_CODE;
  if (issue.code === "too_big" && issue.origin === "string") return "id_too_long";
  if (issue.code === "too_big" && issue.origin === "array" && issue.path.length === 1 && issue.path[0] === "candidates") {
    return "too_many_candidates";
  }
  return "invalid_request";
}

/** Validates `value`; a failure is a 400 naming every issue, with the first issue's code. */
export function parseRequest<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  throw new ServiceError(400, issueCode(issues[0]), formatIssues(issues));
}
