"""The warehouse checks can fail, and the prefetching COPY loses nothing and hides no error."""

import threading
from datetime import date, datetime, timezone

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from pipeline_defs.batch.checks import duplicate_keys, orphans
from pipeline_defs.batch.load import _prefetched, copy_batches

DAY = date(2026, 11, 20)
TICK_COLUMNS = ["symbol", "price", "volume", "ts", "exchange", "_source_key", "_partition"]


def _ticks(n: int, start: int = 0) -> pa.RecordBatch:
    ts = [datetime(2026, 11, 20, 0, 0, i % 60, tzinfo=timezone.utc) for i in range(start, start + n)]
    return pa.RecordBatch.from_pydict({
        "symbol": [f"S{i % 7}" for i in range(start, start + n)], "price": [1.5] * n, "volume": [10] * n, "ts": ts,
        "exchange": ["X"] * n, "_source_key": ["k"] * n, "_partition": [DAY] * n,
    })


def test_duplicate_keys_counts_every_extra_row(database_url):
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE warehouse.market_ticks DROP CONSTRAINT market_ticks_pkey")  # a broken table
        assert copy_batches(cur, sql.Identifier("warehouse", "market_ticks"), TICK_COLUMNS, [_ticks(5)]) == 5
        assert duplicate_keys(cur, "market_ticks", ("symbol", "ts"), DAY) == 0
        copy_batches(cur, sql.Identifier("warehouse", "market_ticks"), TICK_COLUMNS, [_ticks(2), _ticks(1)])
        assert duplicate_keys(cur, "market_ticks", ("symbol", "ts"), DAY) == 3  # (S0,0s) ×3, (S1,1s) ×2
        assert duplicate_keys(cur, "market_ticks", ("symbol", "ts"), date(2026, 11, 21)) == 0


def test_orphans_lists_missing_parents(database_url):
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO warehouse.orders (order_id, customer_id, order_ts, status, currency, total_amount,"
                    " _source_key, _partition) VALUES ('O1', 'C404', now(), 'paid', 'USD', 1, 'k', %s)", (DAY,))
        assert orphans(cur, "orders", "customer_id", DAY) == (1, ["C404"])


def test_copy_streams_many_batches_in_order(database_url):
    batches = [_ticks(100, start=i * 100) for i in range(25)]
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE t (LIKE warehouse.market_ticks)")
        assert copy_batches(cur, sql.Identifier("t"), TICK_COLUMNS, iter(batches)) == 2500
        assert cur.execute("SELECT count(*) FROM t").fetchone()[0] == 2500


def test_a_failing_reader_fails_the_copy_and_leaves_nothing(database_url):
    def batches():
        yield _ticks(10)
        raise OSError("lake part vanished")

    with psycopg.connect(database_url) as conn:
        with pytest.raises(OSError, match="lake part vanished"):
            with conn.transaction(), conn.cursor() as cur:
                copy_batches(cur, sql.Identifier("warehouse", "market_ticks"), TICK_COLUMNS, batches())
        assert conn.execute("SELECT count(*) FROM warehouse.market_ticks").fetchone()[0] == 0


def test_an_abandoned_copy_stops_the_reader_thread():
    pulled = []

    def chunks():
        for i in range(1000):
            pulled.append(i)
            yield i

    stream = _prefetched(chunks(), depth=2)
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()  # what happens when COPY raises: the consumer's generator is closed
    assert len(pulled) <= 5
    assert not any(t.name == "copy-prefetch" for t in threading.enumerate())


def test_a_rejected_copy_raises_and_rolls_back(database_url):
    with psycopg.connect(database_url) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.transaction(), conn.cursor() as cur:
                copy_batches(cur, sql.Identifier("warehouse", "market_ticks"), TICK_COLUMNS,
                             (_ticks(10, start=i * 10) for i in range(100)))  # keys repeat after 420 rows
        assert conn.execute("SELECT count(*) FROM warehouse.market_ticks").fetchone()[0] == 0
