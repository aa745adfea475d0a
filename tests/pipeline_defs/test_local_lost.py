"""What `up` says when moto's data is gone: what was lost, and the command that rebuilds it from
the files PostgreSQL's load audit still lists (pipeline_defs/local/lost.py)."""

from __future__ import annotations

from datetime import date

import psycopg

from pipeline_defs.local.lost import lost_message
from pipeline_defs.seed import seed_keys


def _audit(database_url: str, keys: list[tuple[str, date]]) -> None:
    with psycopg.connect(database_url) as conn:
        for key, day in keys:
            conn.execute("INSERT INTO ops.load_audit (dataset, partition_date, source_key, status, rows_in, rows_loaded,"
                         " rows_quarantined) VALUES ('x', %s, %s, 'loaded', 1, 1, 0)", (day, key))


def test_seeded_days_are_rebuilt_by_one_command_per_seeded_range(database_url, tmp_path):
    days = [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22), date(2026, 11, 25)]
    _audit(database_url, [(key, day) for day in days for key in seed_keys(day)]
           + [("erp/orders/dt=2026-11-21/mine.jsonl", date(2026, 11, 21))])

    message = lost_message(tmp_path / "aws-snapshot", database_url)

    assert "LOST" in message and "every S3 object" in message and "the processing state" in message
    assert ("\n  rebuild with: pipeline seed --days 3 --end 2026-11-22 && pipeline seed --days 1 --end 2026-11-25\n"
            in message)
    assert message.endswith("upload again yourself: 1 file(s) not from the seed (erp/orders/dt=2026-11-21/mine.jsonl)")


def test_nothing_loaded_needs_nothing_rebuilt(database_url, tmp_path):
    message = lost_message(tmp_path / "aws-snapshot", database_url)
    assert "LOST" in message and "nothing needs rebuilding" in message and "pipeline seed" not in message
