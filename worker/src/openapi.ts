/** The OpenAPI 3.1 document; the request schema is generated from the same zod schema that validates requests. */
import { z } from "zod";
import { MODEL_HEADER, OVERRIDE_HEADER, scoreRequestSchema, VARIANT_HEADER } from "../../shared/score-api.ts";

const errorSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } },
  },
};
const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

const scoreResponseSchema = {
  type: "object",
  required: ["scores", "ranked", "variant", "modelId", "knowledge"],
  properties: {
    scores: { type: "array", items: { type: "number" }, description: "Probabilities aligned with request.candidates" },
    ranked: {
      type: "array",
      description: "Candidates sorted by score, best first",
      items: { type: "object", required: ["itemId", "score"], properties: { itemId: { type: "string" }, score: { type: "number" } } },
    },
    variant: { type: "string" },
    modelId: { type: "string" },
    knowledge: {
      type: "object",
      properties: {
        user: { type: "string", enum: ["present", "missing", "none"] },
        itemsPrecomputed: { type: "integer" },
        itemsFallback: { type: "integer" },
        itemsMissing: { type: "integer" },
      },
    },
  },
};

export function openApiDocument(maxCandidates: number) {
  const { $schema: _ignored, ...request } = z.toJSONSchema(scoreRequestSchema(maxCandidates)) as Record<string, unknown>;
  const bearer = [{ adminToken: [] }];
  return {
    openapi: "3.1.0",
    info: {
      title: "kser-edge",
      version: "1.0.0",
      description: "Scores candidate items for a user with a KSER model (knowledge-enhanced recommender).",
    },
    paths: {
      "/v1/score": {
        post: {
          summary: "Score candidates for a user",
          parameters: [
            {
              name: OVERRIDE_HEADER,
              in: "header",
              required: false,
              schema: { type: "string" },
              description: "Force a rollout variant (QA); requires the admin bearer token",
            },
          ],
          requestBody: { required: true, content: { "application/json": { schema: { $ref: "#/components/schemas/ScoreRequest" } } } },
          responses: {
            "200": {
              description: "Scores, ranking, and the variant and model that produced them",
              headers: { [VARIANT_HEADER]: { schema: { type: "string" } }, [MODEL_HEADER]: { schema: { type: "string" } } },
              content: { "application/json": { schema: { $ref: "#/components/schemas/ScoreResponse" } } },
            },
            "400": errorResponse(
              "invalid_json, invalid_request, id_too_long (an id over 256 UTF-16 code units), invalid_id (a lone surrogate), too_many_candidates, unknown_variant",
            ),
            "403": errorResponse("Variant override without a valid admin token"),
            "413": errorResponse("Body over MAX_BODY_BYTES"),
            "415": errorResponse("Body declared as something other than JSON"),
            "503": errorResponse("No rollout config, or neither the assigned nor the fallback model can be served"),
          },
        },
      },
      "/v1/health": {
        get: { summary: "Liveness: the isolate answers (and ORT's start-up state)", responses: { "200": { description: "Alive" } } },
      },
      "/v1/ready": {
        get: {
          summary: "Readiness: ORT started, rollout config readable, every live model loads",
          responses: { "200": { description: "Ready" }, "503": { description: "Not ready, with reasons" } },
        },
      },
      "/v1/models": {
        get: { summary: "Variants of the live rollout and their model manifests", responses: { "200": { description: "Variants" } } },
      },
      "/v1/admin/rollout": {
        get: {
          summary: "Live rollout config with bucket ranges",
          security: bearer,
          responses: { "200": { description: "Config" }, "401": errorResponse("No or wrong token") },
        },
      },
      "/v1/admin/assignment": {
        get: {
          summary: "Bucket and variant of a user",
          security: bearer,
          parameters: [{ name: "userId", in: "query", required: true, schema: { type: "string" } }],
          responses: { "200": { description: "Assignment" }, "401": errorResponse("No or wrong token") },
        },
      },
      "/v1/admin/cache": {
        get: { summary: "Isolate cache contents", security: bearer, responses: { "200": { description: "Cache stats" } } },
      },
      "/v1/admin/cache/flush": {
        post: {
          summary: "Drop this isolate's loaded models, shards and rollout config",
          security: bearer,
          responses: { "200": { description: "Flushed" } },
        },
      },
    },
    components: {
      schemas: { ScoreRequest: request, ScoreResponse: scoreResponseSchema, Error: errorSchema },
      securitySchemes: { adminToken: { type: "http", scheme: "bearer" } },
    },
  };
}
