"""route(): S3 key → dataset, partition, format."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline_defs.contracts import CONTRACTS, Route, file_format, route

D = dt.date(2024, 5, 1)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # <source>/<dataset>/[dt=…/]<name>.<ext>[.gz]
        ("crm/customers/dt=2024-05-01/customers.json", Route("customers", D, "json", False)),
        ("crm/customers/customers.csv", Route("customers", None, "csv", False)),
        ("catalog/products/dt=2024-05-01/p.csv.gz", Route("products", D, "csv", True)),
        ("erp/orders/dt=2024-05-01/orders.ndjson", Route("orders", D, "json", False)),
        ("web/web_events/dt=2024-05-01/e.jsonl", Route("web_events", D, "json", False)),
        ("web/web-events/e.json.gz", Route("web_events", None, "json", True)),
        ("market/market_ticks/t.jsonl", Route("market_ticks", None, "json", False)),
        # dt= anywhere after the dataset folder
        ("erp/orders/region=eu/dt=2024-05-01/hour=03/o.json", Route("orders", D, "json", False)),
        # stream archive prefixes
        ("web/events/dt=2024-05-01/part-0001.jsonl.gz", Route("web_events", D, "json", True)),
        ("market/ticks/dt=2024-05-01/t.jsonl.gz", Route("market_ticks", D, "json", True)),
        # seed-style folders
        ("crm-data/customer-data.json", Route("customers", None, "json", False)),
        ("catalog-data/products.csv", Route("products", None, "csv", False)),
        ("erp-data/orders.json", Route("orders", None, "json", False)),
        ("web-data/events.json", Route("web_events", None, "json", False)),
        ("market-data/dt=2024-05-01/ticks.csv", Route("market_ticks", D, "csv", False)),
        # tolerated spellings
        ("s3://pipeline-raw/crm/customers/c.JSON", Route("customers", None, "json", False)),
        ("/CRM/Customers/c.json", Route("customers", None, "json", False)),
        ("crm_data/c.json", Route("customers", None, "json", False)),
    ],
)
def test_routable_keys(key, expected):
    assert route(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "unknown/thing/file.json",  # unknown prefix
        "crm/file.json",  # source without dataset folder
        "crm/leads/file.json",  # unknown dataset under a known source
        "customers/file.json",
        "crm/customers/file.parquet",  # unsupported extension
        "crm/customers/file.xlsx.gz",
        "crm/customers/_SUCCESS",
        "crm/customers/",  # folder marker
        "crm/customers/.json",
        "crm/customers/dt=2024-13-01/c.json",  # impossible partition
        "crm/customers/dt=yesterday/c.json",
        "",
    ],
)
def test_unroutable_keys(key):
    assert route(key) is None


def test_every_contract_prefix_routes_to_its_dataset():
    for contract in CONTRACTS.values():
        for prefix in contract.prefixes:
            assert route(f"{prefix}dt=2024-05-01/x.csv") == Route(contract.name, D, "csv", False)


def test_file_format():
    assert file_format("a/b.JSONL.GZ") == ("json", True)
    assert file_format("b.csv") == ("csv", False)
    assert file_format("b.txt") is None


@pytest.mark.parametrize(("key", "prefix", "expected"), [
    ("Web/Events/dt=2024-05-01/p.jsonl.gz", "web/events/", True),
    ("web-data/x.json", "web_data/", True),
    ("web/web_events/x.json", "web/events/", False),
    ("web/events", "web/events/", False),  # a file named like the folder is not under it
])
def test_under_compares_folders_like_routing(key, prefix, expected):
    from pipeline_defs.contracts.routing import under

    assert under(key, prefix) is expected


ODD_BUT_ROUTED = [
    "CRM/Customers/dt=2026-11-20/upper.json", "crm_data/seed-style.json", "Crm-Data/dt=2026-11-20/mixed.json",
    "crm/customers/region=eu/dt=2026-11-20/deep.jsonl", "crm/customers/dt=2026-11-20/canonical.json",
]


def test_every_key_routing_accepts_is_listed_for_its_partition(provisioned):
    """What the upload sensors route is what the run lists (and so loads): no case or -/_ gap."""
    import boto3

    from pipeline_defs.batch.raw_files import list_partition_files

    s3 = boto3.client("s3")
    bucket = provisioned.names.raw_bucket
    for key in [*ODD_BUT_ROUTED, "CRM/Orders/dt=2026-11-20/other.json", "crmx/customers/dt=2026-11-20/no.json"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"[]")
    listed = list_partition_files(s3, bucket, CONTRACTS["customers"], dt.date(2026, 11, 20))
    routed_here = [k for k in ODD_BUT_ROUTED if route(k).partition == dt.date(2026, 11, 20)]
    assert [f.key for f in listed] == sorted(routed_here)
    undated = list_partition_files(s3, bucket, CONTRACTS["customers"], listed[0].last_modified.date())
    assert "crm_data/seed-style.json" in [f.key for f in undated]
