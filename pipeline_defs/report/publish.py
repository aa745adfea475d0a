"""Where the report goes: S3 (HTML + JSON), the history item, SNS, EventBridge, and the UI preview.

Every write is keyed by the report's date, so publishing a day again overwrites the same S3 keys
and the same history item (its ``revision`` counts the publications); subscribers get a message per
publication, marked "revised" (with the revision) after the first.
"""

from __future__ import annotations

from datetime import date

from botocore.exceptions import ClientError

from pipeline_defs.aggregates.store import to_item
from pipeline_defs.report.render import kpi_value, signed_pct

HISTORY_PK = "report"


class PublishError(RuntimeError):
    """A destination is missing or refused the report (a deployment problem, not a data problem)."""


def report_keys(day: date | str) -> tuple[str, str]:
    day = day if isinstance(day, str) else day.isoformat()
    return f"reports/{day}/daily_report.html", f"reports/{day}/daily_report.json"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


LOCAL_LINK_SECONDS = 7 * 24 * 3600  # SigV4's longest presigned URL


def browser_url(bucket: str, key: str, endpoint_url: str | None, region: str, s3=None) -> str:
    """A link a person can click: a presigned URL of the object on the local endpoint (a bare URL is a
    403 there), the S3 console on AWS."""
    if endpoint_url:
        if s3 is not None:
            return s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                             ExpiresIn=LOCAL_LINK_SECONDS)
        return f"{endpoint_url.rstrip('/')}/{bucket}/{key}"
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"


def put_report(s3, bucket: str, html_key: str, html: str, json_key: str, json_text: str) -> None:
    s3.put_object(Bucket=bucket, Key=html_key, Body=html.encode("utf-8"), ContentType="text/html; charset=utf-8",
                  CacheControl="no-cache")
    s3.put_object(Bucket=bucket, Key=json_key, Body=json_text.encode("utf-8"),
                  ContentType="application/json", CacheControl="no-cache")


def kpi_summary(figures: dict) -> dict:
    """The KPIs as {key: value} (no missing values) — for the history item and the event."""
    return {k["key"]: k["value"] for k in figures["kpis"] if k["value"] is not None}


def record_history(ddb, table: str, day: str, attributes: dict) -> int:
    """Upsert the history item ``pk=report, sk=<date>``; returns its revision (1 on first publication).

    Attributes that are None now are removed, so the item never keeps a stale value from an earlier run.
    """
    values = to_item(attributes)
    removed = sorted(k for k, v in attributes.items() if v is None)
    names = {f"#a{n}": name for n, name in enumerate([*values, *removed])}
    sets = [f"#a{n} = :v{n}" for n in range(len(values))]
    expression_values = {f":v{n}": value for n, value in enumerate(values.values())}
    expression_values.update({":zero": {"N": "0"}, ":one": {"N": "1"}, ":first": values["generated_at"]})
    names.update({"#rev": "revision", "#first": "first_published_at"})
    update = ("SET " + ", ".join(sets) + ", #rev = if_not_exists(#rev, :zero) + :one,"
              " #first = if_not_exists(#first, :first)")
    if removed:
        update += " REMOVE " + ", ".join(f"#a{len(values) + n}" for n in range(len(removed)))
    response = ddb.update_item(
        TableName=table, Key={"pk": {"S": HISTORY_PK}, "sk": {"S": day}},
        UpdateExpression=update,
        ExpressionAttributeNames=names, ExpressionAttributeValues=expression_values, ReturnValues="ALL_NEW")
    return int(response["Attributes"]["revision"]["N"])


def summary(figures: dict, html_uri: str, json_uri: str, revision: int = 1) -> tuple[str, str]:
    """(subject, body) of the notification: ASCII subject under 100 characters, a short plain-text body."""
    day = figures["date"]
    update = f" (revised, revision {revision})" if revision > 1 else ""
    kpis = {k["key"]: k for k in figures["kpis"]}
    revenue = [k for k in figures["kpis"] if k["format"] == "money" and k["value"] is not None]
    subject = f"Daily report {day}{update}: " + (
        ", ".join(f"{k['currency']} {k['value']:,.0f}" for k in revenue) if revenue and figures["has_data"]
        else "no data")
    lines = [f"Daily report for {day}{update}", ""]
    if revision > 1:
        lines += [f"Revised: the data for {day} changed after the report was first published; "
                  f"this revision {revision} replaces the previous one.", ""]
    if not figures["has_data"]:
        lines.append(f"No data for {day}: no files were processed and no orders, events or ticks were recorded.")
    else:
        def show(key: str) -> str:
            k = kpis[key]
            change = f" ({signed_pct(k['change_pct'])})" if k["change_pct"] is not None else ""
            return f"{kpi_value(k)}{change}"
        if revenue:
            lines.append("Revenue: " + ", ".join(show(k["key"]) for k in revenue))
        lines.append(f"Orders: {show('orders')} | New customers: {show('new_customers')} | "
                     f"Web events: {show('web_events')} | Errors: {show('errors')}")
    files = figures["files"]
    quality = "" if figures["quality_score"] is None else f"data quality {figures['quality_score']:.1f}/100, "
    lines.append(f"Data: {quality}{files['processed']} files processed, {files['failed']} rejected")
    lines += ["", f"Report: {html_uri}", f"JSON:   {json_uri}", f"Open:   pipeline report open {day}"]
    return subject[:99], "\n".join(lines)


def notify(sns, topic_arn_: str, subject: str, body: str) -> str:
    try:
        return sns.publish(TopicArn=topic_arn_, Subject=subject, Message=body)["MessageId"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NotFound", "NotFoundException"):
            raise PublishError(f"SNS topic {topic_arn_} does not exist; the report was stored but not announced") from exc
        raise


def publish_event(events, bus: str, detail: str) -> None:
    response = events.put_events(Entries=[{"Source": "data-pipeline", "DetailType": "ReportPublished",
                                           "EventBusName": bus, "Detail": detail}])
    if response.get("FailedEntryCount"):
        failure = response["Entries"][0]
        raise PublishError(f"EventBridge refused ReportPublished: {failure.get('ErrorCode')} {failure.get('ErrorMessage')}")


def markdown_preview(figures: dict, html_uri: str, json_uri: str, link: str) -> str:
    """The KPIs as a markdown table for the asset's page in the Dagster UI."""
    lines = [f"**Daily report {figures['date']}** — [open the HTML]({link})", ""]
    if not figures["has_data"]:
        lines += [f"_No data for {figures['date']}._", ""]
    lines += ["| KPI | Value | vs previous day |", "|---|---:|---:|"]
    lines += [f"| {k['label']} | {kpi_value(k)} | {signed_pct(k['change_pct'])} |" for k in figures["kpis"]]
    files = figures["files"]
    lines += ["", f"Files: {files['processed']} processed, {files['failed']} rejected.", "",
              f"HTML: `{html_uri}`  ", f"JSON: `{json_uri}`"]
    return "\n".join(lines)
