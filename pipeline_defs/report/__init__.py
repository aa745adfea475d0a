"""The daily report: figures from the DynamoDB aggregates, rendered to HTML + JSON and published.

Modules: ``figures`` (the numbers, i.e. the JSON twin), ``charts`` (matplotlib → inline SVG),
``render`` (Jinja2 template in ``templates/``), ``realtime`` (the hot path's counts, read-only),
``publish`` (S3, history item, SNS, EventBridge, UI preview), ``daily`` (all of it in order),
``download`` (``pipeline report open``).
"""

from pipeline_defs.report.daily import Published, publish_daily_report
from pipeline_defs.report.publish import report_keys

__all__ = ["Published", "publish_daily_report", "report_keys"]
