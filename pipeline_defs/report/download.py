"""``pipeline report open YYYY-MM-DD``: fetch a published report from S3 to a local file."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from botocore.exceptions import ClientError

from pipeline_defs.report.publish import report_keys
from pipeline_defs.settings import Settings


class ReportNotFound(RuntimeError):
    """No report was published for that day (or the bucket is not reachable)."""


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def download_report(settings: Settings, day: date, s3, fmt: str = "html", out: Path | None = None) -> Path:
    """Write the day's report (``html`` or ``json``) to ``out`` (default under .local/reports/); returns the path."""
    html_key, json_key = report_keys(day)
    key = html_key if fmt == "html" else json_key
    bucket = settings.names.reports_bucket
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise ReportNotFound(
                f"no report for {day.isoformat()} at s3://{bucket}/{key}; materialise reports/daily_report "
                f"for partition {day.isoformat()} (Dagster UI, or the daily_report job)") from None
        raise
    path = out or settings.local_dir / "reports" / f"daily_report-{day.isoformat()}.{fmt}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path.resolve()
