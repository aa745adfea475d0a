"""Local end to end: 10,000 events POSTed to the gateway, all visible in /metrics/realtime; p95 latency.

Real processes, as `pipeline local up` runs them: a moto server, the gateway (ingest Lambda) and the
Kinesis poller (stream processor Lambda) with the deployed delivery settings (batch 100, window 5 s,
parallelization 2) unless PIPELINE_STREAM_* says otherwise. One client thread POSTs batches of 50
events; another reads /metrics/realtime every 100 ms. A request's latency is from its POST to the
first read whose total includes it (reads are 100 ms apart, so figures are ±0.1 s).

    .venv/bin/python -m bench.stream_e2e [--events 10000] [--per-request 50]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from pipeline_defs.local.provision import provision
from pipeline_defs.local.stack import LocalStack
from pipeline_defs.settings import LocalPorts, load_settings

DAY = "2026-11-20"
KINDS = ("page_view", "page_view", "click", "purchase", "user_signup", "error")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event(i: int) -> dict:
    kind = KINDS[i % len(KINDS)]
    return {"eventType": kind, "userId": f"user_{i % 997}", "timestamp": f"{DAY}T{i % 24:02d}:00:00Z",
            "deviceType": ("mobile", "desktop")[i % 2], "pageUrl": "/home", "loadTime": 100 + i % 900,
            "amount": 10, "currency": "EUR", "elementId": "buy", "campaignSource": "ads", "errorType": "Timeout"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(stack: LocalStack, total: int, per_request: int) -> dict:
    url = stack.gateway_url
    sent: list[tuple[float, int]] = []  # (POST start, cumulative events including this request)
    reads: list[tuple[float, int]] = []
    done = threading.Event()

    def watch() -> None:
        session = requests.Session()
        while not done.is_set():
            t = time.monotonic()
            body = session.get(f"{url}/metrics/realtime", params={"date": DAY}, timeout=30).json()
            reads.append((t, body["total_events"]))
            if body["total_events"] >= total and len(sent) * per_request >= total:
                done.set()
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = requests.Session()
    started = time.monotonic()
    for start in range(0, total, per_request):
        batch = [event(i) for i in range(start, min(total, start + per_request))]
        t = time.monotonic()
        answer = session.post(f"{url}/events", json=batch, timeout=30)
        assert answer.status_code == 200, answer.text
        sent.append((t, start + len(batch)))
    posted = time.monotonic()
    if not done.wait(timeout=600):
        raise RuntimeError(f"only {reads[-1][1] if reads else 0} of {total} events became visible")
    watcher.join(timeout=5)
    latencies = []
    for t_post, cumulative in sent:
        visible = next(t for t, seen in reads if seen >= cumulative and t >= t_post)
        latencies.append(visible - t_post)
    last_visible = next(t for t, seen in reads if seen >= total)
    return {
        "events": total, "per_request": per_request,
        "post_rate_events_per_s": round(total / (posted - started)),
        "end_to_end_events_per_s": round(total / (last_visible - started)),
        "latency_s": {"p50": round(statistics.median(latencies), 2), "p95": round(percentile(latencies, 0.95), 2),
                      "max": round(max(latencies), 2)},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--per-request", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="bench-stream-e2e-"))
    settings = load_settings().with_overrides(local_dir=state, ports=LocalPorts(
        moto=free_port(), gateway=free_port(), dagster=free_port(), postgres=free_port()))
    stack = LocalStack(settings)
    quiet = lambda _: None  # noqa: E731
    try:
        stack.moto().start()
        provision(stack.aws_settings())
        stack.gateway().start()
        stack.poller().start()
        result = run(stack, args.events, args.per_request)
    finally:
        stack.down(only=["gateway", "poller", "moto"], say=quiet)
        shutil.rmtree(state, ignore_errors=True) if not args.keep else print(f"logs kept in {state}/logs")
    s = settings.stream
    print(f"local end to end: {result['events']:,} events in POSTs of {result['per_request']} "
          f"(batch {s.batch_size}, window {s.batch_window_seconds:g} s, parallelization {s.parallelization_factor})")
    print(f"  POST rate        {result['post_rate_events_per_s']:>8,} events/s (gateway + ingest + Kinesis)")
    print(f"  end to end       {result['end_to_end_events_per_s']:>8,} events/s (first POST → all visible)")
    lat = result["latency_s"]
    print(f"  POST → visible   p50 {lat['p50']:.2f} s   p95 {lat['p95']:.2f} s   max {lat['max']:.2f} s")
    print(json.dumps({"events": result["events"], "post_rate_events_per_s": result["post_rate_events_per_s"],
                      "end_to_end_events_per_s": result["end_to_end_events_per_s"], "latency_p50_s": lat["p50"],
                      "latency_p95_s": lat["p95"], "latency_max_s": lat["max"]}))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
