"""An upload with the real `aws` CLI becomes warehouse rows through the real sensor daemon — no manual step."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import sql, wait_for

pytestmark = pytest.mark.e2e


def test_upload_becomes_warehouse_rows(stack, tmp_path):
    orders = [
        {"order_id": f"E2E-{n}", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00Z", "status": "paid",
         "currency": "USD", "channel": "web", "total_amount": 20.0,
         "items": [{"sku": "SKU-0001", "quantity": 2, "unit_price": 10.0}]}
        for n in range(5)
    ] + [{"order_id": "E2E-bad", "customer_id": "C1", "order_ts": "2026-11-20T10:00:00", "status": "paid",
          "currency": "USD", "total_amount": 1, "items": [{"sku": "X", "quantity": 1, "unit_price": 1}]}]
    local = tmp_path / "orders.jsonl"
    local.write_text("\n".join(json.dumps(o) for o in orders))
    copy = subprocess.run(["aws", "s3", "cp", str(local), f"s3://{stack['PIPELINE_RAW_BUCKET']}/erp/orders/dt=2026-11-20/"],
                          env=stack, capture_output=True, text=True, timeout=60)
    assert copy.returncode == 0, copy.stderr

    def loaded():
        return sql(stack, "SELECT status, rows_in, rows_loaded, rows_quarantined FROM ops.load_audit"
                          " WHERE source_key = 'erp/orders/dt=2026-11-20/orders.jsonl'") == [("loaded", 6, 5, 1)]

    wait_for(loaded, timeout=240, what="the sensor-started run to load the file")
    assert sql(stack, "SELECT count(*) FROM warehouse.orders WHERE order_id LIKE 'E2E-%'") == [(5,)]
    assert sql(stack, "SELECT reason FROM ops.quarantine WHERE source_key = 'erp/orders/dt=2026-11-20/orders.jsonl'") == [("invalid:order_ts",)]

    # the same upload again: the processing state says it is loaded, so no second run
    again = subprocess.run(["aws", "s3", "cp", str(local), f"s3://{stack['PIPELINE_RAW_BUCKET']}/erp/orders/dt=2026-11-20/"],
                           env=stack, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0
    status = subprocess.run(["pipeline", "status", "files", "--dataset", "orders", "--date", "2026-11-20"],
                            env=stack, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "erp/orders/dt=2026-11-20/orders.jsonl" in status.stdout and "loaded" in status.stdout
