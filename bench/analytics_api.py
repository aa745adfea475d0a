"""Analytics API latency: p50/p95 per operation, cold (cache invalidated) and cached, on N orders.

Real PostgreSQL (a private throwaway cluster, or the server of PIPELINE_DATABASE_URL) with the
migrations' indexes, a moto server, and requests over HTTP through the local gateway
(pipeline_defs/local/gateway.py) to infra/functions/analytics/handler.py. Data is generated in SQL
(customers = orders / 10 with varied names, 2.5 items per order, a year of dates, web events =
orders / 2). Usage::

    .venv/bin/python bench/analytics_api.py [--orders 1000000] [--cold 5] [--cached 50]

Goals (issue 7): cached p95 < 50 ms through the gateway; cold < 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

END = "2026-11-20"
OPERATIONS = {
    "simple_demo": {},
    "database_info": {},
    "customer_analysis": {"min_orders": 2},
    "revenue_analysis": {"start_date": "2025-11-21", "end_date": END, "top_n": 10},
    "multi_dimensional_analytics": {"timeframe": "12 months", "end_date": END},
    "data_integrity_analysis": {"start_date": "2026-11-14", "end_date": END},
    "referral_network": {"max_depth": 10},
    "time_series_patterns": {"start_date": "2026-10-22", "end_date": END},
}

GENERATE = """
INSERT INTO warehouse.customers (customer_id, email, first_name, last_name, company, segment, country, city,
                                 signup_date, referred_by, attributes, updated_at, _source_key, _partition)
SELECT 'C' || lpad(n::text, 8, '0'),
       lower(f.name || '.' || l.name || n) || '@example.com', f.name, l.name,
       (ARRAY['Acme', 'Globex', 'Initech', NULL])[1 + n %% 4],
       (ARRAY['enterprise', 'smb', 'consumer'])[1 + n %% 3],
       (ARRAY['US', 'GB', 'DE', 'FR', 'NL', 'JP', 'BR', 'IN', 'CA', 'AU'])[1 + (n * 7) %% 10],
       'City', d, CASE WHEN n > 1 AND n %% 10 < 3 THEN 'C' || lpad((1 + (n * 2654435761) %% (n - 1))::text, 8, '0') END,
       jsonb_build_object('tier', (ARRAY['gold', 'silver', 'bronze'])[1 + n %% 3]), d, 'bench', d
FROM generate_series(1, %(customers)s) n
CROSS JOIN LATERAL (SELECT (%(end)s::date - ((n * 37) %% 365)::int)::date AS d) dd
CROSS JOIN LATERAL (SELECT (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Linus','Radia','Ken',
    'Frances','John','Maria','Wei','Aisha','Olu','Sven','Ingrid','Pablo','Yuki','Priya','Omar','Lena','Tariq',
    'Chloe','Mateo','Nia','Ivan','Zara','Kofi'])[1 + (n * 13) %% 30] AS name) f
CROSS JOIN LATERAL (SELECT 'Surname' || ((n * 31) %% 5000) AS name) l;

INSERT INTO warehouse.products (sku, name, category, unit_price, currency, active, updated_at, _source_key, _partition)
SELECT 'SKU-' || lpad(n::text, 5, '0'), 'Item ' || n, (ARRAY['electronics', 'books', 'home', 'sports', 'toys'])[1 + n %% 5],
       5 + (n %% 200), (ARRAY['USD', 'EUR', 'GBP'])[1 + n %% 3], true, now(), 'bench', %(end)s::date
FROM generate_series(1, 500) n;

INSERT INTO warehouse.order_items (order_id, line_no, sku, quantity, unit_price, _source_key, _partition)
SELECT 'O' || lpad(n::text, 9, '0'), k, 'SKU-' || lpad((1 + (n * 7 + k * 13) %% 500)::text, 5, '0'),
       1 + (n + k) %% 3, 5 + ((n * 3 + k) %% 200), 'bench', %(end)s::date - ((n * 17) %% 365)::int
FROM generate_series(1, %(orders)s) n, generate_series(1, 1 + n %% 4) k;

INSERT INTO warehouse.orders (order_id, customer_id, order_ts, status, currency, channel, total_amount, updated_at,
                              _source_key, _partition)
SELECT i.order_id, 'C' || lpad((1 + (n * 48271) %% %(customers)s)::text, 8, '0'), ts,
       (ARRAY['pending', 'paid', 'paid', 'shipped', 'shipped', 'delivered', 'delivered', 'delivered', 'cancelled',
              'refunded'])[1 + n %% 10],
       (ARRAY['USD', 'EUR', 'GBP'])[1 + (n / 3) %% 3], (ARRAY['web', 'store', 'partner'])[1 + n %% 3], i.total, ts,
       'bench', ts::date
FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM warehouse.order_items GROUP BY order_id) i
CROSS JOIN LATERAL (SELECT substr(i.order_id, 2)::bigint AS n) nn
CROSS JOIN LATERAL (SELECT (%(end)s::date - ((n * 17) %% 365)::int)::timestamptz + ((n * 7919) %% 86400) * interval '1 second' AS ts) t;

INSERT INTO warehouse.web_events (event_id, event_type, user_id, session_id, occurred_at, device_type, page_url,
                                  properties, _source_key, _partition)
SELECT 'E' || n, (ARRAY['page_view', 'page_view', 'page_view', 'click', 'purchase', 'user_signup', 'error'])[1 + n %% 7],
       'user_' || (n %% 40000), 's' || (n %% 90000), ts, (ARRAY['desktop', 'mobile', 'tablet'])[1 + n %% 3], '/',
       jsonb_build_object('load_time_ms', 300 + n %% 2000), 'bench', ts::date
FROM generate_series(1, %(events)s) n
CROSS JOIN LATERAL (SELECT (%(end)s::date - ((n * 11) %% 365)::int)::timestamptz + ((n::bigint * 104729) %% 86400) * interval '1 second' AS ts) t;
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--cold", type=int, default=5, help="cold requests per operation")
    parser.add_argument("--cached", type=int, default=50, help="cached requests per operation")
    args = parser.parse_args()

    from bench.infra import free_port
    from pipeline_defs.local.postgres import throwaway_cluster
    from pipeline_defs.migrations import migrate

    servers = ExitStack()  # the private cluster, when there is one; closed last
    external = os.environ.get("PIPELINE_DATABASE_URL")
    if external:
        server_url = external.rsplit("/", 1)[0] + "/postgres"
    else:
        server_url = servers.enter_context(throwaway_cluster("bench-pg-", free_port())).url("postgres")
    dbname = f"bench_{uuid.uuid4().hex[:8]}"
    url = server_url.rsplit("/", 1)[0] + f"/{dbname}"
    moto_port, gateway_port = free_port(), free_port()
    # separate processes, as `pipeline local up` runs them
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = None
    try:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        migrate(url)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in GENERATE.split(";\n\n"):
                conn.execute(statement, {"orders": args.orders, "customers": max(100, args.orders // 10),
                                         "events": args.orders // 2, "end": END})
        generated = time.perf_counter() - started
        with psycopg.connect(url) as conn:  # the rows were written by SQL, not by loads: build the rollups
            from pipeline_defs import partition_stats
            from pipeline_defs.rollups import rebuild

            rebuilt = time.perf_counter()
            rebuild(conn)
            partition_stats.rebuild(conn)
            conn.commit()
            rebuilt = time.perf_counter() - rebuilt
            from datetime import date, timedelta

            from pipeline_defs.customer_matching import match_customers

            matched = time.perf_counter()  # as analytics/customer_duplicates after each load of the last 31 days
            match_customers(conn, since=date.fromisoformat(END) - timedelta(days=30))
            matched = time.perf_counter() - matched
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            counts = conn.execute("SELECT (SELECT count(*) FROM warehouse.orders), (SELECT count(*) FROM"
                                  " warehouse.order_items), (SELECT count(*) FROM warehouse.customers),"
                                  " (SELECT count(*) FROM warehouse.web_events)").fetchone()
        print(f"data: {counts[0]:,} orders, {counts[1]:,} items, {counts[2]:,} customers, {counts[3]:,} web events "
              f"generated in {generated:.0f} s; analytics rollups rebuilt in {rebuilt:.0f} s; "
              f"customers of the last 31 days matched in {matched:.0f} s", file=sys.stderr, flush=True)

        env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}", "AWS_REGION": "us-east-1",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "PIPELINE_GATEWAY_PORT": str(gateway_port), "POWERTOOLS_LOG_LEVEL": "WARNING"}
        env.pop("PIPELINE_DATABASE_URL", None)
        os.environ.update(env)
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{moto_port}/moto-api/data.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        import boto3

        from pipeline_defs.local.analytics import ensure_invalidation_rule, ensure_readonly_login, readonly_secret_id
        from pipeline_defs.local.provision import provision
        from pipeline_defs.settings import load_settings

        settings = load_settings()
        provision(settings)
        ensure_readonly_login(url, settings)
        ensure_invalidation_rule(settings)
        env["PIPELINE_ANALYTICS_DB_SECRET_ID"] = readonly_secret_id(settings)
        gateway = subprocess.Popen([sys.executable, "-m", "pipeline_defs.local.gateway"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{gateway_port}"
        for _ in range(200):
            try:
                requests.get(f"{base}/_local/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        session = requests.Session()
        events, ddb = boto3.client("events"), boto3.client("dynamodb")
        datasets = ("customers", "products", "orders", "web_events", "market_ticks")

        def versions() -> dict:
            item = ddb.get_item(TableName=settings.names.cache_table, Key={"pk": {"S": "meta#data-versions"}},
                                ConsistentRead=True).get("Item", {})
            return {d: int(item.get(d, {}).get("N", "0")) for d in datasets}

        def invalidate() -> None:
            """PartitionLoaded for every dataset, as the warehouse asset sends it; wait until the gateway's
            pump has handed them to the function (the local EventBridge → Lambda path)."""
            before = versions()
            events.put_events(Entries=[{"Source": "data-pipeline", "DetailType": "PartitionLoaded",
                                        "EventBusName": settings.names.event_bus,
                                        "Detail": json.dumps({"dataset": d, "partition": END, "counts": {}})}
                                       for d in datasets])
            deadline = time.monotonic() + 30
            while any(v <= before[d] for d, v in versions().items()):
                if time.monotonic() > deadline:
                    raise SystemExit("PartitionLoaded events did not reach the analytics function")
                time.sleep(0.05)

        def timed(operation: str, params: dict) -> tuple[float, str]:
            t = time.perf_counter()
            response = session.get(f"{base}/analytics", params={"operation": operation, **params}, timeout=120)
            elapsed = 1000 * (time.perf_counter() - t)
            if response.status_code != 200:
                return elapsed, f"HTTP {response.status_code} {response.json().get('error')}"
            return elapsed, response.headers.get("X-Cache", "?")

        summary: dict[str, dict] = {}
        timed("simple_demo", {})  # connect once: the cold numbers are warm-Lambda, cold-cache figures
        out = sys.stderr  # stdout carries the function's logs and EMF metrics
        print(f"\n{'operation':30} {'cold p50':>9} {'cold p95':>9} {'cached p50':>11} {'cached p95':>11}  (ms, "
              f"{args.cold} cold / {args.cached} cached requests via HTTP through the local gateway)", file=out)
        for operation, params in OPERATIONS.items():
            cold = []
            for _ in range(args.cold):
                invalidate()
                elapsed, cache = timed(operation, params)
                if cache != "MISS":  # e.g. 503 query_timeout: say so and go on with the next operation
                    print(f"{operation:30} {cache} after {elapsed:.0f} ms", file=out, flush=True)
                    summary[operation] = {"error": f"{cache} after {elapsed:.0f} ms"}
                    break
                cold.append(elapsed)
            if len(cold) < args.cold:
                continue
            cached = []
            for _ in range(args.cached):
                elapsed, cache = timed(operation, params)
                assert cache == "HIT", cache
                cached.append(elapsed)
            summary[operation] = {"cold_p50_ms": round(statistics.median(cold), 1),
                                  "cold_p95_ms": round(percentile(cold, 0.95), 1),
                                  "cached_p50_ms": round(statistics.median(cached), 1),
                                  "cached_p95_ms": round(percentile(cached, 0.95), 1)}
            print(f"{operation:30} {statistics.median(cold):9.1f} {percentile(cold, 0.95):9.1f} "
                  f"{statistics.median(cached):11.1f} {percentile(cached, 0.95):11.1f}", file=out, flush=True)
        # last line on stdout: the summary `python -m bench` collects
        print(json.dumps({"orders": args.orders, "cold_requests": args.cold, "cached_requests": args.cached,
                          "operations": summary}), flush=True)
    finally:
        for process in (gateway, moto):
            if process is not None:
                process.terminate()
                process.wait(10)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        servers.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
