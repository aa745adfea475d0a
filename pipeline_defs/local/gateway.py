"""The local API gateway: HTTP → API Gateway (REST) proxy event → the handler routes.py names → HTTP.

It serves whatever ``pipeline_defs.local.routes.ROUTES`` lists, loading each function from
``infra/functions/<name>/handler.py`` on first use, so a function that is missing or broken answers
502 on its own routes only (as API Gateway does for a failing integration). Bodies over API
Gateway's 10 MB limit get 413 before any handler runs. ``python -m pipeline_defs.local.gateway``
runs it on ``PIPELINE_GATEWAY_PORT`` (started by ``pipeline local up``).
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline_defs.local.lambda_runtime import FunctionLoadError, LocalContext, LocalFunction, load_function
from pipeline_defs.local.routes import FUNCTIONS_DIR, ROUTES, Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
HEALTH_PATH = "/_local/health"
STAGE = "local"


def _pattern(template: str) -> re.Pattern:
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            name = part[1:-1]
            out += f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out)


def proxy_event(route: Route, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
                source_ip: str, params: dict[str, str]) -> dict:
    """The REST API proxy-integration event API Gateway would send for this request."""
    split = urlsplit(raw_path)
    query = parse_qs(split.query, keep_blank_values=True)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        multi_headers.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "resource": route.path,
        "path": unquote(split.path),
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": route.path, "httpMethod": method, "path": f"/{STAGE}{split.path}",
            "stage": STAGE, "requestId": str(uuid.uuid4()), "requestTimeEpoch": int(time.time() * 1000),
            "accountId": "000000000000", "apiId": "local", "protocol": "HTTP/1.1",
            "identity": {"sourceIp": source_ip, "userAgent": multi_headers.get("User-Agent", [None])[-1]},
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class Gateway:
    """Routes + lazily loaded functions; :meth:`handle` turns one HTTP request into a response."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES, functions_dir: Path = FUNCTIONS_DIR):
        self.routes = [(route, _pattern(route.path)) for route in routes]
        self.functions_dir = functions_dir
        self._functions: dict[str, LocalFunction] = {}
        self._lock = threading.Lock()

    def function(self, name: str) -> LocalFunction:
        with self._lock:
            if name not in self._functions:
                self._functions[name] = load_function(name, self.functions_dir)
            return self._functions[name]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists for another method)."""
        path_known = False
        for route, pattern in self.routes:
            m = pattern.fullmatch(path)
            if m:
                path_known = True
                if route.method == method:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}, True
        return None, {}, path_known

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str) -> tuple[int, list[tuple[str, str]], bytes]:
        path = urlsplit(raw_path).path
        if path == HEALTH_PATH:
            routes = [f"{r.method} {r.path} -> {r.function}" for r, _ in self.routes]
            return _json(200, {"gateway": "ok", "routes": routes})
        route, params, known = self.match(method, path)
        if route is None:
            return _json(405 if known else 404, {"message": "Missing Authentication Token" if not known
                                                 else f"{method} is not allowed on {path}"})
        if len(body) > MAX_PAYLOAD_BYTES:
            return _json(413, {"message": "Request Too Long"})
        try:
            function = self.function(route.function)
        except FunctionLoadError as exc:
            return _json(502, {"message": f"function {route.function!r} is not available locally: {exc}"})
        event = proxy_event(route, method, raw_path, headers, body, source_ip, params)
        try:
            result = function.invoke(event, LocalContext(route.function))
        except Exception as exc:  # an unhandled Lambda error is API Gateway's 502
            print(f"gateway: {route.function} raised {type(exc).__name__}: {exc}", file=sys.stderr)
            return _json(502, {"message": "Internal server error"})
        return _from_proxy_result(result)


def _json(status: int, body: dict) -> tuple[int, list[tuple[str, str]], bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _from_proxy_result(result) -> tuple[int, list[tuple[str, str]], bytes]:
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        return _json(502, {"message": "Internal server error (malformed Lambda proxy response)"})
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(name, str(v)) for v in values]
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return result["statusCode"], headers, data


def make_server(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: avoid 40 ms delayed-ACK stalls on keep-alive

        def _serve(self) -> None:
            declared = (self.headers.get("Content-Length") or "0").strip()
            length = int(declared) if declared.isdigit() else -1  # isdigit: no sign, no spaces
            if length < 0:  # the body's end is unknown: answer, then drop the connection
                status, headers, data = _json(400, {"message": "Invalid Content-Length"})
                self.close_connection = True
            elif length > MAX_PAYLOAD_BYTES:
                status, headers, data = _json(413, {"message": "Request Too Long"})
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                status, headers, data = gateway.handle(self.command, self.path, list(self.headers.items()), body,
                                                       self.client_address[0])
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, fmt: str, *args) -> None:  # one line per request in the process log
            sys.stderr.write(f"gateway: {self.address_string()} {fmt % args}\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> int:
    from pipeline_defs.settings import get_settings

    port = get_settings().ports.gateway
    gateway = Gateway()
    server = make_server(gateway, "127.0.0.1", port)
    print(f"gateway: serving {len(ROUTES)} routes on http://127.0.0.1:{port}", flush=True)
    # EventBridge's rule → analytics Lambda (PartitionLoaded invalidates its cache), as on AWS
    from pipeline_defs.local.analytics import InvalidationPump

    pump = InvalidationPump(get_settings(), lambda event, _: gateway.function("analytics").invoke(event),
                            say=lambda line: print(f"gateway: {line}", flush=True))
    pump.start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        pump.stop()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
