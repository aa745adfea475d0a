"""Jobs started on a clock (sensors/schedules.py). The per-dataset load jobs the upload sensors start
are in pipeline_defs/jobs.py."""

from dagster import AssetSelection, define_asset_job

from assets.aggregates import aggregate_key
from assets.reports import DAILY_REPORT
from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.contracts import CONTRACTS
from pipeline_defs.contracts.stream_records import STREAM_DATASETS
from pipeline_defs.jobs import dataset_keys

# The stream Lambda archives batches under web/events/ and market/ticks/ (no run per file): the
# day's partition is (re)loaded by schedule instead. Re-loading is idempotent.
stream_archive_job = define_asset_job(
    name="load_stream_archive",
    selection=AssetSelection.assets(*[key for dataset in STREAM_DATASETS for key in dataset_keys(CONTRACTS[dataset])]),
    description="web_events and market_ticks for one day, including the hot path's archive",
)

daily_report_job = define_asset_job(
    name="daily_report",
    selection=AssetSelection.assets(*[aggregate_key(n) for n in AGGREGATES], DAILY_REPORT),
    description="every aggregate of one day, then the daily report (HTML + JSON to S3, history, SNS, EventBridge)",
)
