"""The HTTP surface (Powertools APIGatewayRestResolver) and the PartitionLoaded event path.

Routes: ``GET /health``, ``GET|POST /analytics``, ``GET /download/{key}``. Every error answer is
``{"error": code, "message": text}``; unexpected failures are logged with their traceback and
answered 500 without one.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config as BotoConfig

from pipeline_defs.contracts import CONTRACTS

from . import ops_catalog, ops_integrity, ops_sales  # noqa: F401  (they register the operations)
from .cache import Cache, cache_key
from .config import Config, load
from .crosscheck import AwsReaders
from .db import Database
from .errors import ApiError, BadRequest
from .params import normalised, parse_all
from .registry import OPERATIONS, Context
from .results import Results

SERVICE = "analytics"
NAMESPACE = "Pipeline"  # infra sets POWERTOOLS_METRICS_NAMESPACE to the same value
MAX_BODY_BYTES = 64 * 1024

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
app = APIGatewayRestResolver()
_BOTO = BotoConfig(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=10)
_S3 = _BOTO.merge(BotoConfig(signature_version="s3v4"))  # presigned downloads: SigV4, not botocore's SigV2 default


class Runtime:
    """What a warm Lambda keeps between invocations: configuration, clients, the connection."""

    def __init__(self, config: Config):
        self.config = config
        self.db = Database(config, lambda: self.client("secretsmanager"))
        # one session and one client per service: a new session re-reads botocore's JSON models
        # (~0.5 s for S3), which the first data_integrity_analysis paid twice for its readers
        self._session = boto3.session.Session()
        self._clients: dict[str, object] = {}
        for service in ("dynamodb", "s3"):  # made with the runtime, not in some request's time
            self.client(service)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self._session.client(service, config=_S3 if service == "s3" else _BOTO)
        return self._clients[service]

    @cached_property
    def cache(self) -> Cache:
        return Cache(self.client("dynamodb"), self.config.cache_table, self.config.cache_ttl_seconds)

    @cached_property
    def results(self) -> Results:
        return Results(self.client("s3"), self.config.results_bucket, self.config.url_expiry_seconds)

    @cached_property
    def readers(self) -> AwsReaders:
        return AwsReaders(self.config, self.client("s3"), self.client("dynamodb"))


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime(load())
    return _runtime


def reset_runtime() -> None:
    """Forget clients and the connection (tests change the environment between cases)."""
    global _runtime
    if _runtime is not None:
        _runtime.db.close()
    _runtime = None


def _json(status: int, body: Any, headers: dict | None = None) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=body if isinstance(body, str) else json.dumps(body, separators=(",", ":")),
                    headers=headers or {})


@app.exception_handler(ApiError)
def _api_error(exc: ApiError) -> Response:
    metrics.add_metric(name="ClientErrors" if exc.status < 500 else "ServerErrors", unit=MetricUnit.Count, value=1)
    logger.info("request refused", extra={"status": exc.status, "error": exc.code})
    return _json(exc.status, exc.body())


@app.exception_handler(Exception)
def _unexpected(exc: Exception) -> Response:
    metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    logger.exception("unexpected failure")
    return _json(500, {"error": "internal_error", "message": "the request failed unexpectedly; it was logged"})


@app.not_found
def _not_found(_exc: Exception) -> Response:
    return _json(404, {"error": "not_found", "message": "no such route: use GET /health, GET|POST /analytics "
                                                        "or GET /download/{key}"})


@app.get("/health")
def health() -> Response:
    started = time.perf_counter()
    with runtime().db.cursor() as cur:
        cur.execute("SELECT 1")
    return _json(200, {"status": "ok", "database": "ok", "operations": sorted(OPERATIONS),
                       "databaseMs": round(1000 * (time.perf_counter() - started), 2)})


def _request() -> tuple[str | None, dict]:
    event = app.current_event
    query = dict(event.query_string_parameters or {})
    if event.http_method == "GET":
        return query.pop("operation", None), query
    raw = _body_text(event)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise BadRequest('the body must be a JSON object: {"operation": ..., "parameters": {...}}')
    name = body.get("operation", query.get("operation"))
    if "operation" in body and "operation" in query and body["operation"] != query["operation"]:
        raise BadRequest("the operation in the query string and in the body differ")
    parameters = body.get("parameters", {})
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        raise BadRequest('"parameters" must be a JSON object', code="invalid_parameter")
    extra = sorted(set(body) - {"operation", "parameters"})
    if extra:
        raise BadRequest(f"unknown field(s) {', '.join(map(str, extra))[:200]}; send "
                         '{"operation": ..., "parameters": {...}}', code="invalid_request")
    return name, parameters


def _body_text(event) -> str:
    """The body as text, decoded here rather than by Powertools (``decoded_body`` raises on bytes that
    are not UTF-8, which would be a 500): not base64 or not UTF-8 is the client's 400."""
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw)
        except binascii.Error:
            raise BadRequest("the body is not valid base64 although flagged so", code="malformed_json") from None
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_BODY_BYTES:
        raise BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes", code="invalid_request")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("the body is not UTF-8 text", code="malformed_json") from None
    return raw


@app.route("/analytics", method=["GET", "POST"])
def analytics() -> Response:
    name, raw = _request()
    if name is None or name == "":
        raise BadRequest(f"'operation' is required; one of {', '.join(sorted(OPERATIONS))}", code="missing_operation")
    if not isinstance(name, str) or name not in OPERATIONS:
        raise BadRequest(f"unknown operation {str(name)[:60]!r}; one of {', '.join(sorted(OPERATIONS))}",
                         code="unknown_operation")
    op = OPERATIONS[name]
    values = parse_all(op.params, raw)
    if op.check:
        op.check(values)
    params = normalised(values)
    rt = runtime()
    key = cache_key(op.name, params)
    try:
        entry, versions = rt.cache.lookup(key, op.datasets)
    except Exception:  # the cache is an optimisation: answer without it
        logger.warning("cache unavailable", exc_info=True)
        entry, versions = None, None
    if entry is not None:
        metrics.add_metric(name="CacheHits", unit=MetricUnit.Count, value=1)
        return _hit(rt, entry)
    metrics.add_metric(name="CacheMisses", unit=MetricUnit.Count, value=1)
    started = time.perf_counter()
    with rt.db.cursor() as cur:
        data = op.run(Context(cur, rt.db.has_trgm, rt.readers if op.needs_aws else None), values)
    answer = {"operation": op.name, "parameters": params, "data": data, "cached": False,
              "generatedAt": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
              "executionTimeMs": round(1000 * (time.perf_counter() - started), 1)}
    body = json.dumps(answer, separators=(",", ":")).encode()
    if len(body) > rt.config.large_result_bytes:
        metrics.add_metric(name="LargeResults", unit=MetricUnit.Count, value=1)
        s3_key = rt.results.put(body, op.name)
        large = _large(rt, answer, s3_key, len(body))
        head = {k: v for k, v in large.items() if k not in ("downloadUrl", "s3Url", "downloadPath", "expiresInSeconds")}
        _store(rt, key, op.name, versions, body=json.dumps(head).encode(), s3_key=s3_key)
        return _json(200, large, {"X-Cache": "MISS"})
    _store(rt, key, op.name, versions, body=body)
    return _json(200, body.decode(), {"X-Cache": "MISS"})


def _large(rt: Runtime, answer: dict, s3_key: str, size: int) -> dict:
    head = {k: answer[k] for k in ("operation", "parameters", "cached", "generatedAt", "executionTimeMs")}
    return {**head, **rt.results.describe(s3_key), "sizeBytes": size}


def _store(rt: Runtime, key: str, operation: str, versions: dict | None, **what) -> None:
    if versions is None:
        return
    try:
        rt.cache.store(key, operation, versions, **what)
    except Exception:
        logger.warning("cache write failed", exc_info=True)


def _hit(rt: Runtime, entry) -> Response:
    cached_at = datetime.fromtimestamp(entry.created_at, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    answer = json.loads(entry.body) if entry.body else {}
    if entry.s3_key is not None:  # a large result: its head was cached, its body stays in S3
        answer.update(rt.results.describe(entry.s3_key))
    answer.update(cached=True, cachedAt=cached_at)
    return _json(200, answer, {"X-Cache": "HIT"})


@app.get("/download/<name>")
def download(name: str) -> Response:
    return _download(name)


@app.get("/download/<folder>/<name>")
def download_in_folder(folder: str, name: str) -> Response:
    return _download(f"{folder}/{name}")


def _download(requested: str) -> Response:
    body, url = runtime().results.open(requested)
    if url is not None:
        return Response(status_code=303, headers={"Location": url}, content_type=content_types.APPLICATION_JSON,
                        body=json.dumps({"downloadUrl": url}))
    return _json(200, body.decode())


# a warehouse load, and the sales rollups' refresh after it, each make a dataset's answers stale
INVALIDATING_EVENTS = ("PartitionLoaded", "AnalyticsRefreshed")


def on_partition_loaded(event: dict) -> dict:
    """EventBridge ``PartitionLoaded`` → bump that dataset's data version (invalidates its answers)."""
    detail = event.get("detail") or {}
    dataset = detail.get("dataset") if isinstance(detail, dict) else None
    if dataset not in CONTRACTS:
        logger.warning("PartitionLoaded event without a known dataset; ignored", extra={"detail": str(detail)[:500]})
        return {"invalidated": None, "reason": "unknown dataset"}
    version = runtime().cache.bump(dataset)
    metrics.add_metric(name="CacheInvalidations", unit=MetricUnit.Count, value=1)
    logger.info("cache invalidated", extra={"dataset": dataset, "partition": detail.get("partition"),
                                            "version": version})
    return {"invalidated": dataset, "version": version}


def is_partition_loaded(event: Any) -> bool:
    return isinstance(event, dict) and event.get("detail-type") in INVALIDATING_EVENTS and "requestContext" not in event


@metrics.log_metrics
def handle(event: dict, context: Any) -> dict:
    if is_partition_loaded(event):
        return on_partition_loaded(event)
    logger.append_keys(path=event.get("path") if isinstance(event, dict) else None)
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)
