"""The OpenAPI 3.0 document of the API, built from the operation registry.

``python -m analytics_api.openapi > openapi.json`` (run in infra/functions/analytics) rewrites the
committed document; a test fails when the committed file and the handler's registry disagree.
"""

from __future__ import annotations

import json

from .registry import OPERATIONS

ERROR_CODES = ["invalid_request", "malformed_json", "missing_operation", "unknown_operation", "missing_parameter",
               "invalid_parameter", "unknown_parameter", "not_found", "database_unavailable", "query_timeout",
               "internal_error"]


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build() -> dict:
    names = sorted(OPERATIONS)
    all_params: dict[str, dict] = {}
    for op in OPERATIONS.values():
        for p in op.params:
            all_params.setdefault(p.name, p.schema())
    operations_doc = "\n".join(
        f"* `{op.name}` — {op.summary} Parameters: "
        + (", ".join(f"`{p.name}`" for p in op.params) or "none") + "."
        for op in sorted(OPERATIONS.values(), key=lambda o: o.name))
    parameter_schemas = {
        f"{op.name}_parameters": {
            "type": "object", "additionalProperties": False,
            "properties": {p.name: p.schema() for p in op.params},
        } for op in OPERATIONS.values()}
    answer = {"200": {"description": "The answer (or, for a large one, where to download it). Header X-Cache: HIT|MISS.",
                      "content": {"application/json": {"schema": {"oneOf": [
                          {"$ref": "#/components/schemas/Answer"}, {"$ref": "#/components/schemas/LargeAnswer"}]}}}},
              "400": _error("Malformed JSON, unknown operation, missing or invalid parameters."),
              "500": _error("An unexpected failure (logged; no details are returned)."),
              "503": _error("The database is unreachable or the query ran past statement_timeout.")}
    query_params = [{"name": "operation", "in": "query", "required": True, "schema": {"type": "string", "enum": names}}]
    query_params += [{"name": name, "in": "query", "required": False, "schema": schema}
                     for name, schema in sorted(all_params.items())]
    return {
        "openapi": "3.0.3",
        "info": {"title": "data-pipeline analytics API", "version": "1.0.0",
                 "description": "Named SQL operations over the warehouse, read-only, cached in DynamoDB.\n\n"
                                + operations_doc},
        "paths": {
            "/health": {"get": {"operationId": "health", "summary": "Liveness and database reachability",
                                "responses": {"200": {"description": "OK", "content": {"application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}}}},
                                    "503": _error("The database is unreachable.")}}},
            "/analytics": {
                "get": {"operationId": "analyticsGet", "summary": "Run an operation (parameters in the query string)",
                        "parameters": query_params, "responses": answer},
                "post": {"operationId": "analyticsPost", "summary": "Run an operation (parameters in a JSON body)",
                         "requestBody": {"required": True, "content": {"application/json": {
                             "schema": {"$ref": "#/components/schemas/Request"}}}},
                         "responses": answer},
            },
            "/download/{key}": {"get": {
                "operationId": "download", "summary": "A large result the API stored (only those)",
                "parameters": [{"name": "key", "in": "path", "required": True,
                                "schema": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}-[0-9a-f]{32}\.json$"}}],
                "responses": {"200": {"description": "The stored answer", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Answer"}}}},
                    "303": {"description": "Too large to return inline: Location is a presigned S3 URL"},
                    "404": _error("No such result (never made by the API, or expired after 7 days).")}}},
        },
        "components": {"schemas": {
            "Request": {"type": "object", "required": ["operation"], "additionalProperties": False, "properties": {
                "operation": {"type": "string", "enum": names},
                "parameters": {"type": "object", "description": "See the <operation>_parameters schemas."}}},
            **parameter_schemas,
            "Answer": {"type": "object", "required": ["operation", "parameters", "data", "cached", "generatedAt"],
                       "properties": {"operation": {"type": "string", "enum": names},
                                      "parameters": {"type": "object"}, "data": {"type": "object"},
                                      "cached": {"type": "boolean"}, "cachedAt": {"type": "string"},
                                      "generatedAt": {"type": "string"}, "executionTimeMs": {"type": "number"}}},
            "LargeAnswer": {"type": "object", "required": ["operation", "largeResult", "s3Url", "downloadUrl", "cached"],
                            "properties": {"operation": {"type": "string", "enum": names},
                                           "parameters": {"type": "object"},
                                           "largeResult": {"type": "boolean", "enum": [True]},
                                           "s3Url": {"type": "string"}, "downloadUrl": {"type": "string"},
                                           "downloadPath": {"type": "string"}, "expiresInSeconds": {"type": "integer"},
                                           "sizeBytes": {"type": "integer"}, "cached": {"type": "boolean"},
                                           "cachedAt": {"type": "string"}, "generatedAt": {"type": "string"},
                                           "executionTimeMs": {"type": "number"}}},
            "Health": {"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string"}, "database": {"type": "string"},
                "operations": {"type": "array", "items": {"type": "string"}}, "databaseMs": {"type": "number"}}},
            "Error": {"type": "object", "required": ["error", "message"], "properties": {
                "error": {"type": "string", "enum": ERROR_CODES}, "message": {"type": "string"},
                "parameter": {"type": "string"}}},
        }},
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    from . import app  # noqa: F401  (registers every operation)

    print(render(), end="")
