"""Realistic sample data for every dataset, uploaded to the raw bucket (`pipeline seed --days N`).

Deterministic per day (a seeded RNG), so seeding twice writes the same objects. About
``bad_fraction`` of the rows break a contract rule on purpose, so quarantine has something to show.
Formats vary by dataset to exercise every reader: JSON envelope, CSV, gzipped JSON Lines, camelCase
JSON array.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable

from pipeline_defs.aws import client
from pipeline_defs.settings import Settings

SEGMENTS = ("enterprise", "smb", "consumer")
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "JP", "BR", "IN", "CA", "AU")
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
CATEGORIES = {"electronics": (49, 1999), "books": (5, 60), "home": (10, 400), "sports": (15, 300), "toys": (5, 120)}
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
CHANNELS = ("web", "store", "partner")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Radia", "Ken", "Frances", "John")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Perlman", "Thompson")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell")
SYMBOLS = {"AAPL": 190.0, "MSFT": 410.0, "AMZN": 180.0, "GOOG": 165.0, "TSLA": 240.0}
PAGES = ("/", "/home", "/products", "/cart", "/checkout", "/blog", "/pricing")
DEVICES = ("desktop", "mobile", "tablet")
EVENT_WEIGHTS = {"page_view": 70, "click": 15, "purchase": 6, "user_signup": 5, "error": 4}

Say = Callable[[str], None]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _at(rng: random.Random, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc) + timedelta(seconds=rng.randrange(86_400))


def _customers(rng: random.Random, day: date, day_index: int, bad: float) -> list[dict]:
    count = 200 if day_index == 0 else 25
    start = 1 if day_index == 0 else 201 + 25 * (day_index - 1)
    rows = []
    for n in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        row = {
            "customer_id": f"C{n:06d}",
            "email": f"{first}.{last}{n}@Example.com",
            "first_name": first, "last_name": last,
            "company": rng.choice(COMPANIES) if rng.random() < 0.6 else None,
            "segment": rng.choice(SEGMENTS),
            "country": rng.choice(COUNTRIES).lower() if rng.random() < 0.1 else rng.choice(COUNTRIES),
            "city": rng.choice(("London", "Berlin", "Austin", "Tokyo", "Paris", "Toronto")),
            "signup_date": (day - timedelta(days=rng.randrange(0, 400))).isoformat(),
            "referred_by": f"C{rng.randrange(1, n):06d}" if n > 1 and rng.random() < 0.3 else None,
            "attributes": {"newsletter": rng.random() < 0.5, "tier": rng.choice(("gold", "silver", "bronze"))},
            "updated_at": _iso(_at(rng, day)),
        }
        if rng.random() < bad:
            row[rng.choice(("email", "country"))] = rng.choice(("", "not-an-email", "XX"))
        rows.append(row)
    return rows


def _products(rng: random.Random, day: date, day_index: int, bad: float) -> list[dict]:
    rows = []
    skus = range(1, 61) if day_index == 0 else rng.sample(range(1, 61), 6)  # day 0: catalogue; later: price updates
    for n in skus:
        category = list(CATEGORIES)[n % len(CATEGORIES)]
        low, high = CATEGORIES[category]
        row = {
            "sku": f"SKU-{n:04d}", "name": f"{category.title()} item {n}", "category": category,
            "unit_price": f"{rng.uniform(low, high):.2f}", "currency": CURRENCIES[n % 3],
            "active": "true" if rng.random() < 0.95 else "false", "updated_at": _iso(_at(rng, day)),
        }
        if rng.random() < bad:
            row["unit_price"] = "-1"
        rows.append(row)
    return rows


def _orders(rng: random.Random, day: date, customers_so_far: int, bad: float) -> list[dict]:
    rows = []
    for n in range(300):
        items = []
        for _ in range(rng.randint(1, 4)):
            sku = rng.randint(1, 60)
            low, high = CATEGORIES[list(CATEGORIES)[sku % len(CATEGORIES)]]
            items.append({"sku": f"SKU-{sku:04d}", "quantity": rng.randint(1, 3), "unit_price": round(rng.uniform(low, high), 2)})
        total = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
        ts = _at(rng, day)
        row = {
            "order_id": f"O{day:%Y%m%d}-{n:05d}", "customer_id": f"C{rng.randint(1, customers_so_far):06d}",
            "order_ts": _iso(ts), "status": rng.choices(STATUSES, weights=(5, 30, 25, 30, 5, 5))[0],
            "currency": rng.choice(CURRENCIES[:3]), "channel": rng.choice(CHANNELS), "items": items,
            "total_amount": total, "updated_at": _iso(ts + timedelta(minutes=rng.randint(0, 120))),
        }
        if rng.random() < bad:
            row["total_amount"] = round(total + 10, 2) if rng.random() < 0.5 else total
            if row["total_amount"] == total:
                row["items"] = []
        rows.append(row)
    return rows


def _web_events(rng: random.Random, day: date, bad: float) -> list[dict]:
    rows = []
    types, weights = zip(*EVENT_WEIGHTS.items())
    for n in range(1000):
        kind = rng.choices(types, weights)[0]
        event = {
            "eventId": f"E{day:%Y%m%d}-{n:06d}", "eventType": kind, "userId": f"user_{rng.randint(1, 400)}",
            "sessionId": f"s{rng.randint(1, 300)}", "timestamp": _iso(_at(rng, day)),
            "deviceType": rng.choices(DEVICES, (55, 35, 10))[0], "pageUrl": rng.choice(PAGES),
        }
        if kind == "page_view":
            event.update(loadTime=int(rng.lognormvariate(6.8, 0.5)), sessionLength=rng.randint(5, 900), pagesViewed=rng.randint(1, 12))
        elif kind == "purchase":
            event.update(amount=round(rng.uniform(5, 500), 2), currency=rng.choice(CURRENCIES[:3]),
                         itemsCount=rng.randint(1, 5), paymentMethod=rng.choice(("card", "paypal", "invoice")))
        elif kind == "user_signup":
            event.update(signupMethod=rng.choice(("email", "google", "github")),
                         campaignSource=rng.choice(("newsletter", "ads", "organic")), marketingConsent=rng.random() < 0.6)
        elif kind == "click":
            event.update(elementId=rng.choice(("buy-btn", "nav-home", "signup")), elementType=rng.choice(("button", "link")))
        else:
            event.update(errorType=rng.choice(("TypeError", "NetworkError", "Timeout")), errorMessage="something failed")
        if rng.random() < bad:
            event[rng.choice(("eventType", "userId"))] = rng.choice(("", "teleport"))
        rows.append(event)
    return rows


def _market_ticks(rng: random.Random, day: date, bad: float) -> list[dict]:
    rows = []
    start = datetime.combine(day, time(0), tzinfo=timezone.utc)
    for symbol, base in SYMBOLS.items():
        price = base * math.exp(rng.gauss(0, 0.02))
        for minute in range(0, 24 * 60, 2):
            price *= math.exp(rng.gauss(0, 0.002))
            ts = start + timedelta(minutes=minute, seconds=rng.randrange(60))
            row = {"symbol": symbol.lower() if minute % 97 == 0 else symbol, "price": f"{price:.4f}",
                   "volume": rng.randint(100, 50_000), "ts": int(ts.timestamp() * 1000) if minute % 3 else _iso(ts),
                   "exchange": "NASDAQ"}
            if rng.random() < bad:
                row["price"] = "0"
            rows.append(row)
    return rows


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _jsonl_gz(rows: list[dict]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode(), mtime=0)


# The keys one seeded day writes, in the order they are generated (the RNG is shared).
SEED_KEYS = ("crm/customers/dt={day}/customers.json", "catalog/products/dt={day}/products.csv",
             "erp/orders/dt={day}/orders.jsonl.gz", "web/web_events/dt={day}/events.json",
             "market/market_ticks/dt={day}/ticks.csv")


def seed_keys(day: date) -> list[str]:
    return [key.format(day=day.isoformat()) for key in SEED_KEYS]


def files_for_day(day: date, day_index: int, bad_fraction: float = 0.01) -> dict[str, bytes]:
    """Raw objects (key → body) for one business day; the bytes depend on the day and its index
    in the seeded range, so `pipeline seed` with the same ``--days``/``--end`` writes the same objects."""
    rng = random.Random(f"seed-{day.isoformat()}")
    customers_so_far = 200 + 25 * day_index
    bodies = (
        json.dumps({"data": _customers(rng, day, day_index, bad_fraction)}).encode(),
        _csv(_products(rng, day, day_index, bad_fraction)),
        _jsonl_gz(_orders(rng, day, customers_so_far, bad_fraction)),
        json.dumps(_web_events(rng, day, bad_fraction)).encode(),
        _csv(_market_ticks(rng, day, bad_fraction)),
    )
    return dict(zip(seed_keys(day), bodies))


def seed_raw_bucket(settings: Settings, days: int = 3, end: str | date | None = None,
                    bad_fraction: float = 0.01, say: Say = lambda _: None) -> str:
    """Upload ``days`` days of sample data ending ``end`` (default yesterday, UTC); returns a summary."""
    if days < 1:
        raise ValueError("--days must be at least 1")
    last = date.fromisoformat(end) if isinstance(end, str) else end or (datetime.now(timezone.utc).date() - timedelta(days=1))
    s3 = client("s3", settings)
    objects = size = 0
    for index in range(days):
        day = last - timedelta(days=days - 1 - index)
        for key, body in files_for_day(day, index, bad_fraction).items():
            s3.put_object(Bucket=settings.names.raw_bucket, Key=key, Body=body)
            objects += 1
            size += len(body)
        say(f"seed: {day.isoformat()} uploaded")
    first = last - timedelta(days=days - 1)
    return f"{objects} objects ({size / 1e6:.1f} MB) for {first.isoformat()}..{last.isoformat()} into s3://{settings.names.raw_bucket}"
