"""reports/daily_report end to end: seeded days → aggregates → HTML + JSON in S3, history item, SNS message
(read from the topic's SQS subscription), EventBridge event, UI preview; re-runs overwrite, never duplicate.

Figures in the JSON are checked against SQL written independently in this file.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import date
from html.parser import HTMLParser

import boto3
import pytest
import requests
from dagster import AssetKey, materialize

from assets.aggregates import aggregate_assets
from assets.reports import report_assets
from pipeline_defs.aggregates import AGGREGATES
from pipeline_defs.cli import main
from pipeline_defs.local.provision import inbox_queue_name
from pipeline_defs.resources import build_resources
from tests.assets.test_aggregates_helpers import BATCH_ASSETS, load_day, query

PREVIOUS, DAY = date(2026, 11, 19), date(2026, 11, 20)
EMPTY_DAY = date(2026, 11, 10)
REPORT_SELECTION = [*(AssetKey(["aggregates", n]) for n in AGGREGATES), AssetKey(["reports", "daily_report"])]
ON_DAY = "(%s AT TIME ZONE 'UTC')::date = %%s"


def publish(settings, day: date):
    result = materialize([*BATCH_ASSETS, *aggregate_assets, *report_assets], partition_key=day.isoformat(),
                         resources=build_resources(settings), selection=REPORT_SELECTION, raise_on_error=True)
    assert result.success
    return result


def s3_text(settings, key: str) -> str:
    return boto3.client("s3").get_object(Bucket=settings.names.reports_bucket, Key=key)["Body"].read().decode()


def report(settings, day: date) -> tuple[str, dict]:
    base = f"reports/{day.isoformat()}/daily_report"
    return s3_text(settings, f"{base}.html"), json.loads(s3_text(settings, f"{base}.json"))


def drain(queue_name: str) -> list[dict]:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def history(settings) -> dict[str, dict]:
    found = boto3.client("dynamodb").query(TableName=settings.names.state_table, KeyConditionExpression="pk = :p",
                                           ExpressionAttributeValues={":p": {"S": "report"}})["Items"]
    return {i["sk"]["S"]: i for i in found}


class Page(HTMLParser):
    """Collects what the assertions look at: ids, KPI tiles, quality rows, external references."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.kpis, self.datasets, self.external, self.svgs, self.title = set(), [], [], [], 0, ""
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a and tag != "svg" and not tag.startswith(("g", "path", "clip", "defs", "use")):
            self.ids.add(a["id"])
        if "data-kpi" in a:
            self.kpis.append(a["data-kpi"])
        if "data-dataset" in a:
            self.datasets.append(a["data-dataset"])
        if tag == "svg":
            self.svgs += 1
        if tag in ("script", "link", "img", "iframe") or any(
                k in ("src", "href") and v and v.startswith(("http:", "https:", "//")) for k, v in attrs):
            self.external.append((tag, a))
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data
            self._in_title = False


def svg_charts(html: str) -> list[ET.Element]:
    return [ET.fromstring(chunk) for chunk in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def test_daily_report_end_to_end(pipeline_env, database_url):
    load_day(pipeline_env, PREVIOUS, 0)
    load_day(pipeline_env, DAY, 1)
    publish(pipeline_env, PREVIOUS)
    drain(inbox_queue_name(pipeline_env.names.reports_topic))
    drain(inbox_queue_name(pipeline_env.names.event_bus))
    result = publish(pipeline_env, DAY)
    html, figures = report(pipeline_env, DAY)
    url = database_url

    # --- the JSON's figures against independent SQL ---
    assert figures["date"] == "2026-11-20" and figures["has_data"] and figures["aggregates_computed"]
    kpis = {k["key"]: k for k in figures["kpis"]}
    revenue = dict(query(url, f"SELECT currency, sum(total_amount) FROM warehouse.orders WHERE {ON_DAY % 'order_ts'}"
                              " AND status IN ('paid', 'shipped', 'delivered') GROUP BY 1", DAY))
    previous_revenue = dict(query(url, f"SELECT currency, sum(total_amount) FROM warehouse.orders"
                                       f" WHERE {ON_DAY % 'order_ts'} AND status IN ('paid', 'shipped', 'delivered')"
                                       " GROUP BY 1", PREVIOUS))
    assert set(revenue) == {"EUR", "GBP", "USD"}
    for currency, amount in revenue.items():
        kpi = kpis[f"revenue_{currency}"]
        assert kpi["value"] == pytest.approx(float(amount))
        assert kpi["previous"] == pytest.approx(float(previous_revenue[currency]))
        assert kpi["change_pct"] == pytest.approx(round(100 * float(amount / previous_revenue[currency] - 1), 1))
    orders = {d: n for d, n in query(url, "SELECT (order_ts AT TIME ZONE 'UTC')::date, count(*) FROM warehouse.orders"
                                          " GROUP BY 1")}
    assert (kpis["orders"]["value"], kpis["orders"]["previous"]) == (orders[DAY], orders[PREVIOUS])
    assert kpis["new_customers"]["value"] == query(url, "SELECT count(*) FROM warehouse.customers"
                                                        " WHERE _partition = %s", DAY)[0][0] > 0
    by_type = dict(query(url, f"SELECT event_type, count(*) FROM warehouse.web_events WHERE {ON_DAY % 'occurred_at'}"
                              " GROUP BY 1", DAY))
    assert figures["web_events"]["by_type"] == by_type
    assert kpis["web_events"]["value"] == sum(by_type.values())
    assert kpis["errors"]["value"] == by_type["error"]
    closes = dict(query(url, f"""SELECT DISTINCT ON (symbol) symbol, price FROM warehouse.market_ticks
                                WHERE {ON_DAY % 'ts'} ORDER BY symbol, ts DESC""", DAY))
    assert {m["symbol"]: m["close"] for m in figures["market"]} == pytest.approx(closes)
    audit = {d: (f, r, loaded, q, bad) for d, f, r, loaded, q, bad in query(url, """
        SELECT dataset, count(*), sum(rows_in), sum(rows_loaded), sum(rows_quarantined),
               count(*) FILTER (WHERE status = 'quarantined') FROM ops.load_audit WHERE partition_date = %s
        GROUP BY 1""", DAY)}
    assert {q["dataset"]: (q["files"], q["rows_in"], q["rows_loaded"], q["rows_quarantined"], q["files_rejected"])
            for q in figures["quality"]} == audit
    assert figures["files"] == {"processed": 5, "loaded": 5, "failed": 0}
    trend = figures["revenue_trend"]
    assert len(trend["days"]) == 30 and trend["days"][-1] == "2026-11-20"
    assert trend["revenue"]["USD"][-2:] == pytest.approx([float(previous_revenue["USD"]), float(revenue["USD"])])
    assert trend["revenue"]["USD"][:-2] == [None] * 28  # never computed: a gap, not a zero
    assert figures["stream"] is None  # no hot path in this test

    # --- the HTML: parses, self-contained, holds the charts and the same figures ---
    page = Page(html)
    assert page.title == "Daily report 2026-11-20 · data-pipeline"
    assert page.external == []
    assert {"chart-revenue-trend", "chart-events-by-type", "kpis", "revenue", "web", "market", "quality"} <= page.ids
    assert "stream" not in page.ids and "no-data" not in page.ids
    charts = svg_charts(html)
    assert len(charts) == page.svgs == 2
    assert all(c.tag.endswith("svg") and len(list(c.iter())) > 50 for c in charts)
    assert "USD" in "".join(charts[0].itertext()) and "page_view" in "".join(charts[1].itertext())
    assert page.kpis == [k["key"] for k in figures["kpis"]]
    assert page.datasets == ["customers", "market_ticks", "orders", "products", "web_events"]
    assert f"{kpis['revenue_USD']['value']:,.0f}" in html

    # --- history item, SNS message, EventBridge event, UI metadata ---
    item = history(pipeline_env)["2026-11-20"]
    assert item["html_key"]["S"] == "reports/2026-11-20/daily_report.html"
    assert item["json_key"]["S"] == "reports/2026-11-20/daily_report.json"
    assert item["run_id"]["S"] == result.run_id and item["revision"]["N"] == "1"
    assert float(item["kpis"]["M"]["revenue_USD"]["N"]) == pytest.approx(float(revenue["USD"]))
    (note,) = drain(inbox_queue_name(pipeline_env.names.reports_topic))
    assert note["Subject"].startswith("Daily report 2026-11-20: EUR ") and note["Subject"].isascii()
    assert "s3://pipeline-reports/reports/2026-11-20/daily_report.html" in note["Message"]
    assert "pipeline report open 2026-11-20" in note["Message"]
    events = [e for e in drain(inbox_queue_name(pipeline_env.names.event_bus)) if e["detail-type"] == "ReportPublished"]
    assert [e["detail"]["date"] for e in events] == ["2026-11-20"]
    assert events[0]["detail"]["html_key"] == "reports/2026-11-20/daily_report.html"
    assert events[0]["detail"]["revision"] == 1 and events[0]["detail"]["revised"] is False
    assert "revised" not in note["Subject"] + note["Message"]
    (materialization,) = [e.materialization for e in result.get_asset_materialization_events()
                          if e.asset_key == AssetKey(["reports", "daily_report"])]
    preview = materialization.metadata["preview"].value
    assert "| Revenue (USD) |" in preview and "daily_report.html" in preview
    assert materialization.metadata["html"].value == "s3://pipeline-reports/reports/2026-11-20/daily_report.html"
    link = materialization.metadata["open"].value  # the UI's "open the HTML": a SigV4 presigned URL that works
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link and requests.get(link, timeout=10).text == html

    # --- re-materialising: same keys, same figures, one history item per day, a "revised" notice ---
    publish(pipeline_env, DAY)
    html_again, figures_again = report(pipeline_env, DAY)
    assert {k: v for k, v in figures_again.items() if k != "meta"} == {k: v for k, v in figures.items() if k != "meta"}
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=pipeline_env.names.reports_bucket)["Contents"]]
    assert sorted(keys) == [f"reports/{d}/daily_report.{x}" for d in ("2026-11-19", "2026-11-20") for x in ("html", "json")]
    items = history(pipeline_env)
    assert sorted(items) == ["2026-11-19", "2026-11-20"] and items["2026-11-20"]["revision"]["N"] == "2"
    assert items["2026-11-20"]["first_published_at"] == item["first_published_at"]
    (again,) = drain(inbox_queue_name(pipeline_env.names.reports_topic))
    assert again["Subject"].startswith("Daily report 2026-11-20 (revised, revision 2): EUR ")
    assert again["Message"].startswith("Daily report for 2026-11-20 (revised, revision 2)")
    assert "changed after the report was first published" in again["Message"]
    (revised,) = [e for e in drain(inbox_queue_name(pipeline_env.names.event_bus)) if e["detail-type"] == "ReportPublished"]
    assert revised["detail"]["revision"] == 2 and revised["detail"]["revised"] is True


def test_a_day_without_data_renders_a_report_that_says_so(pipeline_env, tmp_path, capsys):
    publish(pipeline_env, EMPTY_DAY)
    html, figures = report(pipeline_env, EMPTY_DAY)
    assert figures["has_data"] is False and figures["aggregates_computed"] is True
    assert figures["files"] == {"processed": 0, "loaded": 0, "failed": 0}
    assert all(k["value"] in (0, None) for k in figures["kpis"])
    assert [q["status"] for q in figures["quality"]] == ["no data"] * 5
    page = Page(html)
    assert "no-data" in page.ids and page.svgs == 0
    assert "No data for 2026-11-10." in html and "No revenue recorded in the last 30 days." in html
    (note,) = drain(inbox_queue_name(pipeline_env.names.reports_topic))
    assert note["Subject"] == "Daily report 2026-11-10: no data"

    # `pipeline report open` downloads it and prints where
    out = tmp_path / "report.html"
    assert main(["report", "open", "2026-11-10", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert out.read_text() == html
    assert main(["report", "open", "2026-11-09"]) == 1
    assert "no report for 2026-11-09" in capsys.readouterr().err
    assert main(["report", "open", "yesterday"]) == 1
    assert "use YYYY-MM-DD" in capsys.readouterr().err


def test_a_day_with_only_bad_rows_shows_the_quality_section(pipeline_env):
    bad = [{"customer_id": f"C{n}", "email": "not-an-email", "country": "GB", "signup_date": "2026-01-01"}
           for n in range(7)]
    load_day(pipeline_env, DAY, files={"crm/customers/dt=2026-11-20/bad.json": json.dumps(bad).encode(),
                                       "erp/orders/dt=2026-11-20/broken.json": b'[{"order_id": '})
    publish(pipeline_env, DAY)
    html, figures = report(pipeline_env, DAY)
    quality = {q["dataset"]: q for q in figures["quality"]}
    customers = quality["customers"]
    assert (customers["rows_in"], customers["rows_loaded"], customers["rows_quarantined"]) == (7, 0, 7)
    assert customers["top_reasons"] == [{"reason": "invalid:email", "records": 7}]
    assert customers["loaded_pct"] == 0 and customers["score"] < 60
    assert quality["orders"]["files_rejected"] == 1
    assert figures["files"] == {"processed": 2, "loaded": 1, "failed": 1}
    assert figures["has_data"] is True
    page = Page(html)
    assert page.datasets == ["customers", "market_ticks", "orders", "products", "web_events"]
    assert "invalid:email (7)" in html and "(1 rejected)" in html


def archive_line(n: int, event_type: str) -> dict:
    return {"event_id": f"S{n}", "event_type": event_type, "user_id": f"u{n}", "device_type": "mobile",
            "occurred_at": f"2026-11-20T10:00:0{n}.000000Z", "_stream": {"shard": "shardId-000000000000", "seq": str(n)}}


def test_stream_vs_batch_section_appears_only_with_real_time_data(pipeline_env):
    import gzip

    from pipeline_defs.contracts.realtime import metrics_key
    from pipeline_defs.report.realtime import stream_counts

    ddb = boto3.client("dynamodb")
    table = pipeline_env.names.realtime_table
    assert stream_counts(ddb, table, DAY) is None  # the hot path saw nothing: no section
    lines = [archive_line(1, "page_view"), archive_line(2, "page_view"), archive_line(3, "click")]
    body = gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())
    load_day(pipeline_env, DAY, files={"web/events/dt=2026-11-20/shardId-000000000000-1-3.jsonl.gz": body,
                                       "web/web_events/dt=2026-11-20/upload.json": json.dumps(
                                           [{**archive_line(9, "error"), "event_id": "U9"}]).encode()})
    for kind, n in (("page_view", 2), ("click", 2)):  # one click not archived yet
        ddb.put_item(TableName=table, Item={**{k: {"S": v} for k, v in metrics_key("2026-11-20", kind).items()},
                                            "event_type": {"S": kind}, "n": {"N": str(n)}})
    assert stream_counts(ddb, table, DAY) == {"page_view": 2, "click": 2}
    publish(pipeline_env, DAY)
    html, figures = report(pipeline_env, DAY)
    stream = figures["stream"]
    assert stream["matches"] is False
    assert {r["event_type"]: (r["stream"], r["batch_from_stream"], r["difference"], r["batch"])
            for r in stream["by_type"]} == {"page_view": (2, 2, 0, 2), "click": (2, 1, 1, 1), "error": (0, 0, 0, 1)}
    assert (stream["stream_total"], stream["batch_from_stream_total"], stream["batch_total"]) == (4, 3, 4)
    assert "stream" in Page(html).ids and "The hot path and the batch path differ" in html

    ddb.delete_table(TableName=table)  # no hot path deployed at all: still a report, without the section
    messages = []
    assert stream_counts(ddb, table, DAY, log=messages.append) is None
    assert "ResourceNotFoundException" in messages[0]
    publish(pipeline_env, DAY)
    assert report(pipeline_env, DAY)[1]["stream"] is None


def test_notification_subject_is_short_ascii_and_says_when_there_is_no_data():
    from pipeline_defs.report.publish import summary

    kpi = {"key": "revenue_USD", "label": "Revenue (USD)", "value": 123456.78, "previous": 100000.0,
           "change_pct": 23.5, "format": "money", "higher_is_better": True, "currency": "USD"}
    others = [{"key": k, "label": k, "value": 5, "previous": None, "change_pct": None, "format": "int",
               "higher_is_better": True} for k in ("orders", "new_customers", "web_events", "errors")]
    figures = {"date": "2026-11-20", "has_data": True, "kpis": [kpi, *others], "quality_score": 97.25,
               "files": {"processed": 5, "loaded": 5, "failed": 0}}
    subject, body = summary(figures, "s3://b/r.html", "s3://b/r.json")
    assert subject == "Daily report 2026-11-20: USD 123,457" and subject.isascii()
    assert "Revenue: USD 123,457 (+23.5%)" in body and "data quality 97.2/100" in body
    subject, body = summary({**figures, "has_data": False}, "s3://b/r.html", "s3://b/r.json", revision=3)
    assert subject == "Daily report 2026-11-20 (revised, revision 3): no data"
    assert "No data for 2026-11-20" in body


def test_a_missing_topic_is_a_clear_error_not_a_silent_skip(provisioned):
    from pipeline_defs.aws import sns_topic_arn as topic_arn
    from pipeline_defs.report.publish import PublishError, notify

    sns = boto3.client("sns")
    account = boto3.client("sts").get_caller_identity()["Account"]
    arn = topic_arn(sns, provisioned.names.reports_topic, account)
    assert arn in {t["TopicArn"] for t in sns.list_topics()["Topics"]}  # built, not listed: the same ARN
    with pytest.raises(PublishError, match="does not exist"):
        notify(sns, topic_arn(sns, "no-such-topic", account), "s", "b")
