"""Daily partitions (UTC) shared by every dated asset; today's partition exists so uploads land at once."""

from dagster import DailyPartitionsDefinition

FIRST_DAY = "2025-01-01"

daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
