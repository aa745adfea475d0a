"""The shared hot-path schema and configuration agree with the rest of the project: archive keys
route to the right dataset and day, sequence numbers sort numerically, the handlers read the same
PIPELINE_* variables (and defaults) as settings, and the stream knobs parse like every setting."""

from __future__ import annotations

import os
import re

import pytest

from pipeline_defs.contracts import route
from pipeline_defs.contracts.realtime import Aggregate, lt_bin, lt_value, percentile, summarise
from pipeline_defs.contracts.stream_records import ARCHIVE_KEY_SQL, ARCHIVE_NAME, archive_key, padded_seq
from pipeline_defs.local.lambda_runtime import load_function
from pipeline_defs.settings import RESOURCE_ENV, ResourceNames, SettingsError, load_settings
from pipeline_defs.uploads import SCHEDULED_PREFIXES

SHARD = "shardId-000000000003"
AWS_SEQ = "49590338271490256608559692538361571095921575989136588898"


@pytest.mark.parametrize("dataset, prefix", [("web_events", "web/events/"), ("market_ticks", "market/ticks/")])
def test_archive_keys_load_into_their_dataset_and_day_on_the_schedule(dataset, prefix):
    key = archive_key(dataset, "2026-11-20", SHARD, "17", AWS_SEQ)
    assert key == f"{prefix}dt=2026-11-20/{SHARD}-17-{AWS_SEQ}.jsonl.gz"
    routed = route(key)
    assert routed.dataset == dataset and routed.partition.isoformat() == "2026-11-20" and routed.compressed
    assert key.startswith(SCHEDULED_PREFIXES)  # the upload sensors leave it to the schedule
    m = ARCHIVE_NAME.fullmatch(key)
    assert (m["shard"], m["first"], m["last"], m["rejected"]) == (SHARD, "17", AWS_SEQ, None)
    assert re.fullmatch(ARCHIVE_KEY_SQL.strip("^$"), key)
    rejected = archive_key(dataset, "2026-11-20", SHARD, "17", "18", rejected=True)
    assert route(rejected).dataset == dataset and ARCHIVE_NAME.fullmatch(rejected)["rejected"]
    assert not re.fullmatch(ARCHIVE_KEY_SQL.strip("^$"), rejected)  # rejects never count as loaded rows


def test_sequence_numbers_compare_numerically_as_text():
    ordered = ["2", "9", "10", "123", AWS_SEQ]
    assert sorted(padded_seq(s) for s in reversed(ordered)) == [padded_seq(s) for s in ordered]
    with pytest.raises(ValueError):
        padded_seq("12a")


def test_page_load_percentiles_are_within_the_bins_precision():
    values = list(range(50, 5050, 10))  # 500 load times
    hist: dict[int, int] = {}
    for v in values:
        hist[lt_bin(v)] = hist.get(lt_bin(v), 0) + 1
    for q in (0.5, 0.95):
        exact = sorted(values)[int(q * len(values)) - 1]
        assert percentile(hist, q) == pytest.approx(exact, rel=0.06)
    assert lt_value(lt_bin(1200)) == pytest.approx(1200, rel=0.05)


def test_summary_shape_for_an_empty_and_a_busy_day():
    empty = summarise("2026-11-20", [])
    assert empty["event_counts"] == {"page_view": 0, "purchase": 0, "user_signup": 0, "click": 0, "error": 0}
    assert empty["page_views"]["load_time_ms"] == {"samples": 0, "p50": None, "p95": None, "mean": None}
    agg = Aggregate()
    agg.add_event("2026-11-20", "10", "purchase", {"amount": 9.99, "currency": "USD", "device_type": "tablet"})
    agg.add_tick("2026-11-20", "10", "AAPL", 5)
    items = [{"event_type": kind, **{k: float(v) if not isinstance(v, int) else v for k, v in counters.items()}}
             for (day, kind), counters in agg.items.items()]
    busy = summarise("2026-11-20", items, {"AAPL": {"price": 1.5}})
    assert busy["purchases"]["amount_by_currency"] == {"USD": 9.99} and busy["by_device"] == {"tablet": 1}
    assert busy["market"]["symbols"]["AAPL"] == {"ticks": 1, "volume": 5.0, "latest": {"price": 1.5}}


@pytest.mark.parametrize("function", ["ingest", "stream_processor"])
def test_handlers_read_the_settings_variables_with_the_settings_defaults(function, monkeypatch):
    config_class = load_function(function).module.FunctionConfig
    for var in [v for v in os.environ if v.startswith("PIPELINE_")]:
        monkeypatch.delenv(var)
    defaults = config_class.from_env()
    by_attr = {attr: var for var, attr in RESOURCE_ENV.items()}
    for field in config_class.__dataclass_fields__:
        var = by_attr[field]  # every field is a ResourceNames attribute, spelled as settings reads it
        monkeypatch.setenv(var, f"custom-{field}")
        assert getattr(config_class.from_env(), field) == f"custom-{field}"
        assert getattr(defaults, field) == getattr(ResourceNames(), field)


def test_stream_knobs_parse_and_refuse_nonsense():
    stream = load_settings({"PIPELINE_STREAM_BATCH_SIZE": "10", "PIPELINE_STREAM_BATCH_WINDOW_SECONDS": "0.5",
                            "PIPELINE_STREAM_PARALLELIZATION": "1", "PIPELINE_STREAM_BISECT": "false"}).stream
    assert (stream.batch_size, stream.batch_window_seconds, stream.parallelization_factor, stream.bisect_on_error) \
        == (10, 0.5, 1, False)
    default = load_settings({}).stream
    assert (default.batch_size, default.batch_window_seconds, default.parallelization_factor,
            default.retry_attempts) == (100, 5.0, 2, 3)  # the values infra deploys
    for bad in ({"PIPELINE_STREAM_BATCH_SIZE": "0"}, {"PIPELINE_STREAM_PARALLELIZATION": "11"},
                {"PIPELINE_STREAM_BATCH_WINDOW_SECONDS": "soon"}, {"PIPELINE_STREAM_BISECT": "maybe"}):
        with pytest.raises(SettingsError):
            load_settings(bad)
