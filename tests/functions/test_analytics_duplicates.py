"""Duplicate customers matched ahead of time (pipeline_defs/customer_matching.py): the API finds the
same pairs from analytics.customer_pairs as by live trigram probes, also for customers written after
the last matching run, and the analytics/customer_duplicates asset fills the pairs."""

from __future__ import annotations

from datetime import date

import psycopg
from dagster import materialize

from pipeline_defs.customer_matching import match_customers
from tests.functions.analytics_fixtures import execute, seeded_api, seeded_template, sql  # noqa: F401

RANGE = {"start_date": "2026-11-24", "end_date": "2026-11-25"}
NEAR_DUPLICATES = """INSERT INTO warehouse.customers (customer_id, email, first_name, last_name, country, signup_date,
                                                     _source_key, _partition) VALUES
    ('D1', 'jane.doe+shop@mail.io', 'Jane', 'Doe', 'GB', '2026-01-01', 't', '2026-11-25'),
    ('D2', 'janedoe@mail.io', 'Jane', 'Doe', 'GB', '2026-01-01', 't', '2026-11-25'),
    ('D3', 'jonathan.smithers@mail.io', 'Jonathan', 'Smithers', 'GB', '2026-01-01', 't', '2026-11-25'),
    ('D4', 'jonathan.smither@mail.io', 'Jonathan', 'Smither', 'GB', '2026-01-01', 't', '2026-11-25'),
    ('D5', 'jon.smithers@mail.io', 'Jon', 'Smithers', 'GB', '2026-01-01', 't', '2026-11-01')"""


def candidates(api, **params) -> tuple[dict, list[tuple]]:
    status, _, body = api.get("data_integrity_analysis", **RANGE, **params)
    assert status == 200, body
    found = body["data"]["duplicate_candidates"]
    assert found["pairs"] == len(found["examples"])  # few enough to compare them all
    return found["source"], [(p["customer_id"], p["duplicate_of"], p["name_similarity"], p["email_similarity"])
                             for p in found["examples"]]


def match(url: str, **kwargs) -> int | None:
    with psycopg.connect(url) as conn:
        return match_customers(conn, **kwargs)


def test_stored_pairs_answer_as_live_probes_do(seeded_api):
    url = seeded_api.database_url
    execute(url, NEAR_DUPLICATES)
    thresholds = [{}, {"name_similarity": "0.5", "email_similarity": "0.6"}, {"name_similarity": "0.9"}]
    live = {}
    for n, extra in enumerate(thresholds):
        source, pairs = candidates(seeded_api, **extra)
        assert source["kind"] == "live"  # nothing matched yet
        live[n] = pairs
    assert {(a, b) for a, b, *_ in live[0]} >= {("D1", "D2"), ("D3", "D4")}

    assert match(url, since=date(2026, 11, 1)) > 0
    seeded_api.event({"dataset": "customers", "partition": "2026-11-25"})  # not the cached answers
    for n, extra in enumerate(thresholds):
        source, pairs = candidates(seeded_api, **extra)
        assert (source["kind"], source["matched_live"]) == ("stored", 0)
        assert pairs == live[n]
    source, _ = candidates(seeded_api, name_similarity="0.4")  # below the floor: probed live
    assert source["kind"] == "live"

    # written after the run: D4 renamed away, D6 new — matched live until the next run
    execute(url, "UPDATE warehouse.customers SET first_name = 'Zed', email = 'zed@other.io' WHERE customer_id = 'D4'")
    execute(url, """INSERT INTO warehouse.customers (customer_id, email, first_name, last_name, country, signup_date,
                    _source_key, _partition) VALUES ('D6', 'jane.doe@mail.io', 'Jane', 'Doe', 'GB', '2026-01-01',
                    't', '2026-11-24')""")
    seeded_api.event({"dataset": "customers", "partition": "2026-11-25"})
    source, pairs = candidates(seeded_api)
    assert (source["kind"], source["matched_live"]) == ("stored", 2)
    found = {(a, b) for a, b, *_ in pairs}
    assert ("D3", "D4") not in found and {("D1", "D6"), ("D2", "D6")} <= found
    execute(url, "DELETE FROM analytics.customer_match_floors")
    seeded_api.event({"dataset": "customers", "partition": "2026-11-25"})
    assert candidates(seeded_api) == ({"kind": "live"}, pairs)
    assert match(url) == 2  # the next run probes exactly the two


def test_the_asset_matches_a_loaded_partition(seeded_api):
    from assets.analytics import customer_duplicates
    from resources.postgres import PostgresResource

    url = seeded_api.database_url

    def run() -> int:
        result = materialize([customer_duplicates], partition_key="2026-11-20",
                             resources={"postgres": PostgresResource(database_url=url)})
        assert result.success
        return result.asset_materializations_for_node("analytics__customer_duplicates")[0] \
            .metadata["customers_probed"].value

    # the first run sees everyone and probes the partition's customers
    assert run() == sql(url, "SELECT count(*) FROM warehouse.customers WHERE _partition = '2026-11-20'")[0][0] > 0
    assert sql(url, "SELECT count(*) FROM analytics.customer_match_state WHERE probed")[0][0] == \
        sql(url, "SELECT count(*) FROM warehouse.customers WHERE _partition = '2026-11-20'")[0][0]
    execute(url, NEAR_DUPLICATES)
    assert run() == 5  # the next one probes what is new, whatever its partition
    assert {("D1", "D2"), ("D3", "D4")} <= set(sql(url, "SELECT a, b FROM analytics.customer_pairs"))
    assert run() == 0
