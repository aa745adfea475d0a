"""`make bench`'s table: every figure against its same-run reference, gaps and failures visible."""

from bench.summary import table


def test_table_shows_figures_gaps_and_failures():
    text = table({
        "batch_load": {"exit_code": 0, "result": {"input_rows": 1000, "ours_seconds": 2.0, "ours_rows_per_s": 500,
                                                  "ours_peak_rss_mb": 300, "copy_upsert_seconds": 1.5,
                                                  "ratio_vs_copy_upsert": 0.75}},
        "sensor_ticks": {"exit_code": 1, "result": "Traceback …"},
        "analytics_api": {"exit_code": 0, "result": {"operations": {
            "simple_demo": {"cold_p50_ms": 3.2, "cold_p95_ms": 4.9, "cached_p50_ms": 2.1, "cached_p95_ms": 2.6},
            "revenue_analysis": {"error": "HTTP 503 query_timeout"}}}},
    })
    lines = text.splitlines()
    assert "| batch day, per-dataset runs (2 at a time) | 1,000 rows in 2.0 s (500 rows/s), peak RSS 300 MB/run" \
           " | COPY+upsert 1.5 s | 0.75× |" in lines
    assert "| batch vs dlt | 2.0 s | — | — |" in lines  # not measured: shown, not hidden
    assert "| sensor_ticks | FAILED (exit 1) | — | — |" in lines
    assert "| analytics simple_demo | cold p50 3 / p95 5 ms | cached p50 2 / p95 3 ms | — |" in lines
    assert "| analytics revenue_analysis | cold: HTTP 503 query_timeout | — | — |" in lines
