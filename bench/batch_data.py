"""A large, realistic day of raw files for the batch benchmark (deterministic, ~1% bad rows).

Row shapes follow pipeline_defs.seed; the counts scale. Formats vary like real uploads: JSON
envelope, CSV with BOM/CRLF, gzipped JSON Lines, camelCase JSON array.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import date, datetime, time, timedelta, timezone

MIX = {"customers": 0.10, "products": 0.01, "orders": 0.15, "web_events": 0.44, "market_ticks": 0.30}
ROWS_PER_FILE = 100_000


def _ts(rng: random.Random, day: date) -> str:
    moment = datetime.combine(day, time(0), tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(86_400))
    return moment.isoformat().replace("+00:00", "Z")


def customers(rng, day, n):
    for i in range(n):
        yield {"customer_id": f"C{i:08d}", "email": f"user{i}@Example.com", "first_name": "Ada", "last_name": "L",
               "company": "Acme" if i % 3 else None, "segment": ("enterprise", "smb", "consumer")[i % 3],
               "country": ("US", "GB", "DE", "fr")[i % 4] if rng.random() > 0.01 else "XX", "city": "Paris",
               "signup_date": "2026-01-02", "referred_by": f"C{i // 2:08d}" if i % 5 == 0 and i else None,
               "attributes": {"tier": "gold"}, "updated_at": _ts(rng, day)}


def products(rng, day, n):
    for i in range(n):
        yield {"sku": f"SKU-{i:06d}", "name": f"item {i}", "category": "books",
               "unit_price": f"{rng.uniform(1, 500):.2f}" if rng.random() > 0.01 else "-3",
               "currency": ("USD", "EUR", "GBP")[i % 3], "active": "true", "updated_at": _ts(rng, day)}


def orders(rng, day, n, skus):
    for i in range(n):
        items = [{"sku": f"SKU-{rng.randrange(skus):06d}", "quantity": rng.randint(1, 4),
                  "unit_price": round(rng.uniform(1, 200), 2)} for _ in range(rng.randint(1, 4))]
        total = round(sum(x["quantity"] * x["unit_price"] for x in items), 2)
        yield {"order_id": f"O{i:09d}", "customer_id": f"C{rng.randrange(max(n // 2, 1)):08d}",
               "order_ts": _ts(rng, day), "status": "paid", "currency": "USD", "channel": "web", "items": items,
               "total_amount": total if rng.random() > 0.01 else total + 5, "updated_at": _ts(rng, day)}


def web_events(rng, day, n):
    kinds = ("page_view", "page_view", "page_view", "click", "purchase", "user_signup", "error")
    for i in range(n):
        kind = kinds[i % len(kinds)]
        event = {"eventId": f"E{i:010d}", "eventType": kind if rng.random() > 0.01 else "teleport",
                 "userId": f"user_{rng.randrange(50_000)}", "sessionId": f"s{rng.randrange(20_000)}",
                 "timestamp": _ts(rng, day), "deviceType": ("desktop", "mobile", "tablet")[i % 3], "pageUrl": "/home"}
        if kind == "page_view":
            event.update(loadTime=rng.randint(100, 4000), pagesViewed=rng.randint(1, 9))
        elif kind == "purchase":
            event.update(amount=round(rng.uniform(5, 300), 2), currency="USD", itemsCount=2, paymentMethod="card")
        yield event


def market_ticks(rng, day, n):
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    symbols = ("AAPL", "MSFT", "AMZN", "GOOG", "TSLA")
    for i in range(n):
        ts = start + timedelta(microseconds=i * (86_400_000_000 // max(n, 1)))
        yield {"symbol": symbols[i % 5], "price": f"{100 + (i % 997) / 10:.4f}" if rng.random() > 0.01 else "0",
               "volume": rng.randint(1, 10_000), "ts": int(ts.timestamp() * 1000), "exchange": "NASDAQ"}


def _csv(rows) -> bytes:
    rows = list(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return ("\ufeff" + buffer.getvalue()).encode()


def _chunks(rows, size=ROWS_PER_FILE):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def day_files(total_rows: int, day: date):
    """Yield (key, body, rows) for a day of ``total_rows`` input records across all datasets."""
    rng = random.Random(42)
    counts = {name: max(1, int(total_rows * share)) for name, share in MIX.items()}
    dt = f"dt={day.isoformat()}"
    generators = {
        "customers": (customers(rng, day, counts["customers"]), "crm/customers", "json",
                      lambda rows: json.dumps({"data": rows}).encode()),
        "products": (products(rng, day, counts["products"]), "catalog/products", "csv", _csv),
        "orders": (orders(rng, day, counts["orders"], counts["products"]), "erp/orders", "jsonl.gz",
                   lambda rows: gzip.compress("\n".join(json.dumps(r) for r in rows).encode(), 1)),
        "web_events": (web_events(rng, day, counts["web_events"]), "web/web_events", "json",
                       lambda rows: json.dumps(rows).encode()),
        "market_ticks": (market_ticks(rng, day, counts["market_ticks"]), "market/market_ticks", "csv", _csv),
    }
    for name, (rows, prefix, ext, encode) in generators.items():
        for index, chunk in enumerate(_chunks(rows)):
            yield f"{prefix}/{dt}/part-{index:03d}.{ext}", encode(chunk), len(chunk)
