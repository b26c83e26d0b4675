/** Errors that carry the HTTP status and the stable error code a client sees ({error: {code, message}}). */
export class ServiceError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 413 | 415 | 500 | 503,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

/**
 * A model could not be served: missing or corrupt KV value, blob integrity failure, ORT could not load it.
 * kind "missing": there is no manifest under that model id at all.
 */
export class ModelLoadError extends Error {
  constructor(
    readonly modelId: string,
    readonly reason: string,
    readonly kind: "missing" | "broken" = "broken",
  ) {
    super(`model ${modelId}: ${reason}`);
    this.name = "ModelLoadError";
  }
}

export const errorBody = (code: string, message: string) => ({ error: { code, message } });
