"""Hostile files in a real day's load (PostgreSQL + moto + Dagster's materialize): the bad row or file is
quarantined with its limit's reason, the day's good files load, and every file balances
(rows_in = rows_loaded + rows_quarantined)."""

from __future__ import annotations

import gzip
import json

import boto3

from pipeline_defs.settings import get_settings
from tests.assets.test_batch_path import DAY, put, query, run_day

PREFIX = f"web/events/dt={DAY.isoformat()}/"
BIG_INT = "1" * 5000


def event(i: int, **extra) -> dict:
    return {"event_id": f"e{i}", "event_type": "page_view", "user_id": f"u{i}",
            "occurred_at": f"{DAY.isoformat()}T10:00:00Z", **extra}


def lines(*records) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()


def test_hostile_rows_and_files_are_quarantined_and_the_day_loads(pipeline_env, database_url, monkeypatch):
    monkeypatch.setenv("PIPELINE_MAX_COLUMNS", "50")
    monkeypatch.setenv("PIPELINE_MAX_EXTRA_CHARS", "1000")
    get_settings.cache_clear()
    csv_head = "event_id,event_type,user_id,occurred_at,pages_viewed\n"
    files = {
        # rows: a 5000-digit integer as text and as a literal, a line 2 MB long, one nested 100,000 deep,
        # 60 keys, 2,000 characters of unknown fields — each its own reject, the good rows load
        "rows.jsonl": lines(event(1), event(2, pages_viewed=BIG_INT),
                            json.dumps(event(3))[:-1] + f', "pages_viewed": {BIG_INT}}}',
                            event(4, blob="x" * (2 << 20)), "[" * 100_000 + "]" * 100_000,
                            event(6, **{f"k{i}": i for i in range(60)}), event(7, note="n" * 2000), event(8)),
        "rows.csv": (csv_head + f"c1,page_view,u1,{DAY}T10:00:00Z,3\nc2,page_view,u2,{DAY}T10:00:00Z,{BIG_INT}\n"
                     ).encode(),
        # whole files: a gzip bomb of one 40 MB line (as CSV), a 10,000-column CSV, an array nested too deep
        "bomb.csv.gz": gzip.compress(b"x" * (40 << 20), 1),
        "wide.csv": (",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n").encode(),
        "deep.json": json.dumps([event(20), event(21, tree=json.loads("[" * 100 + "]" * 100))]).encode(),
        "good.json": json.dumps([event(30), event(31)]).encode(),
    }
    for name, body in files.items():
        put(pipeline_env, PREFIX + name, body)
    run_day(pipeline_env)

    loaded = {r[0] for r in query(database_url, "SELECT event_id FROM warehouse.web_events")}
    assert loaded == {"e1", "e8", "c1", "e30", "e31"}
    audit = {key.rsplit("/", 1)[-1]: rest for key, *rest in query(
        database_url, "SELECT source_key, status, reason, rows_in, rows_loaded, rows_quarantined FROM ops.load_audit")}
    assert audit["rows.jsonl"] == ["loaded", None, 8, 2, 6]
    assert audit["rows.csv"] == ["loaded", None, 2, 1, 1]
    assert audit["good.json"] == ["loaded", None, 2, 2, 0]
    assert audit["bomb.csv.gz"][:2] == ["quarantined", "too_large:record"]
    assert audit["wide.csv"][:2] == ["quarantined", "too_large:columns"]
    assert audit["deep.json"][:2] == ["quarantined", "too_deep:json"]
    for name, (_, _, rows_in, rows_loaded, rows_quarantined) in audit.items():
        assert rows_in == rows_loaded + rows_quarantined, name

    reasons = query(database_url, "SELECT source_key, row_number, reason FROM ops.quarantine ORDER BY 1, 2")
    by_file = {}
    for key, row, reason in reasons:
        by_file.setdefault(key.rsplit("/", 1)[-1], []).append((row, reason))
    assert by_file["rows.jsonl"] == [(1, "invalid:pages_viewed"), (2, "invalid:pages_viewed"),
                                     (3, "too_large:record"), (4, "too_deep:json"), (5, "too_large:columns"),
                                     (6, "too_large:extra")]
    assert by_file["rows.csv"] == [(1, "invalid:pages_viewed")]
    assert by_file["bomb.csv.gz"] == [(-1, "too_large:record")]
    stored = query(database_url, "SELECT length(record) FROM ops.quarantine WHERE row_number = 3"
                                 " AND source_key = %s", PREFIX + "rows.jsonl")[0][0]
    assert stored < 2000  # the 2 MB line is kept as its first characters, not whole
    copied = boto3.client("s3").list_objects_v2(Bucket=pipeline_env.names.quarantine_bucket,
                                                Prefix=f"web_events/dt={DAY.isoformat()}/files/")
    assert sorted(o["Key"].rsplit("__", 1)[-1] for o in copied.get("Contents", [])) == [
        "bomb.csv.gz", "deep.json", "wide.csv"]
