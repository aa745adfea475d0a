"""The readable table `make bench` prints (and writes to bench/results.md): one line per figure,
ours against the reference measured in the same run. Missing figures (a failed or skipped
benchmark) show as "—" rather than hiding the row."""

from __future__ import annotations

from typing import Callable

Row = tuple[str, Callable[[dict], str], Callable[[dict], str], Callable[[dict], str]]


def _get(result: dict, *path: str):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def _f(template: str, *paths: tuple[str, ...]) -> Callable[[dict], str]:
    def render(result: dict) -> str:
        values = [_get(result, *path) for path in paths]
        return "—" if any(v is None for v in values) else template.format(*values)
    return render


ROWS: dict[str, list[Row]] = {
    "batch_load": [
        ("batch day, per-dataset runs (2 at a time)",
         _f("{:,} rows in {:.1f} s ({:,} rows/s), peak RSS {} MB/run", ("input_rows",), ("ours_seconds",),
            ("ours_rows_per_s",), ("ours_peak_rss_mb",)),
         _f("COPY+upsert {:.1f} s", ("copy_upsert_seconds",)), _f("{}×", ("ratio_vs_copy_upsert",))),
        ("batch, one run of every dataset", _f("{:.1f} s", ("ours_single_run_seconds",)),
         _f("COPY+upsert {:.1f} s", ("copy_upsert_seconds",)), _f("{}×", ("ratio_vs_copy_upsert_single_run",))),
        ("batch vs pandas.to_sql", _f("{:.1f} s", ("ours_seconds",)),
         _f("to_sql {:.1f} s (extrapolated)", ("to_sql_seconds_extrapolated",)), _f("{}×", ("ratio_vs_to_sql",))),
        ("batch vs dlt", _f("{:.1f} s", ("ours_seconds",)), _f("dlt {:.1f} s", ("dlt_seconds",)),
         _f("{}×", ("ratio_vs_dlt",))),
    ],
    "sensor_ticks": [
        ("S3 sensor tick", _f("{} s ({:,} objects)", ("s3_tick_seconds",), ("existing_objects",)),
         _f("full listing {} s", ("full_listing_seconds",)), _f("{}×", ("s3_speedup_vs_full_listing",))),
        ("SQS sensor drain", _f("{} msgs: {} ticks, slowest {} s", ("queued_notifications",), ("sqs_ticks_to_drain",),
                                ("sqs_slowest_tick_seconds",)),
         _f("bare drain {} s", ("sqs_bare_receive_delete_seconds",)), _f("{}×", ("sqs_ratio_vs_bare_drain",))),
    ],
    "stream_processor": [
        ("stream processor", _f("{:,} events/s; {} write + {} read calls/batch", ("events_per_s_web_100_users",),
                                ("ddb_write_calls_per_100_event_batch",), ("ddb_read_calls_per_batch",)),
         _f("contract validation only {:,}/s", ("contract_validation_only_events_per_s",)),
         _f("{}×", ("ratio_vs_contract_validation",))),
    ],
    "stream_e2e": [
        ("stream end to end", _f("{:,} events: p50 {} s, p95 {} s", ("events",), ("latency_p50_s",), ("latency_p95_s",)),
         lambda r: "—", lambda r: "—"),
    ],
}


def _analytics_rows(result: dict) -> list[tuple[str, str, str, str]]:
    rows = []
    for operation, figures in sorted((_get(result, "operations") or {}).items()):
        if figures.get("error"):
            rows.append((f"analytics {operation}", f"cold: {figures['error']}", "—", "—"))
            continue
        rows.append((f"analytics {operation}",
                     f"cold p50 {figures['cold_p50_ms']:.0f} / p95 {figures['cold_p95_ms']:.0f} ms",
                     f"cached p50 {figures['cached_p50_ms']:.0f} / p95 {figures['cached_p95_ms']:.0f} ms", "—"))
    return rows


def table(benchmarks: dict) -> str:
    """Markdown: benchmark | ours | reference (same run) | ratio."""
    lines = ["| benchmark | ours | reference (same run) | ratio |", "|---|---|---|---|"]
    for name, entry in benchmarks.items():
        result = entry.get("result") if isinstance(entry.get("result"), dict) else {}
        if entry.get("exit_code"):
            lines.append(f"| {name} | FAILED (exit {entry['exit_code']}) | — | — |")
            continue
        if name == "analytics_api":
            rows = _analytics_rows(result)
        else:
            rows = [(label, ours(result), ref(result), ratio(result)) for label, ours, ref, ratio in ROWS.get(name, [])]
        lines += [f"| {' | '.join(cells)} |" for cells in rows]
    return "\n".join(lines)
