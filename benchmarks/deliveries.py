"""Deliveries: how fast a day's file is written, checked and uploaded, against a floor.

A relation of ``--rows`` ASAPP transactions (default 2,000,000, one day) is made in a DuckDB file;
then, each in this process, timed: the floor (DuckDB's plain ``COPY`` of the relation to CSV,
nothing formatted or checked), the platform's stage 2 (the formatted ``COPY``: ISO 8601 UTC,
``NULL``, escaped formulas), stage 3 (the written bytes through the pandera rules of the inbound
table) and the upload over the real sshd (the test fixture's: temporary name, size check,
rename). Prints the figures and writes ``results/deliveries.json``.

    .venv/bin/python benchmarks/deliveries.py [--rows N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from platform_assets.core.deliveries import ConfiguredDelivery  # noqa: E402
from platform_assets.core.partitions import daily_file_partitions  # noqa: E402
from platform_assets.core.staging import staging_connection  # noqa: E402
from platform_assets.core.transport.upload import SFTPDeliveryResource  # noqa: E402
from platform_assets.core.warehouse import (  # noqa: E402
    LoaderSettings,  # noqa: E402
    attached_warehouse,
)
from platform_assets.defs.asapp import DELIVERIES  # noqa: E402
from platform_assets.outbound.deliveries.write import check, plan, write  # noqa: E402
from platform_assets_tests.sshd import start_sshd  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DAY = dt.date(2026, 10, 1)


def make_relation(path: Path, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA deliveries")
        con.execute(
            f"""
            CREATE TABLE deliveries.asapp_transactions AS
            SELECT DATE '{DAY}' AS delivery_date,
                   'attentive-' || md5(i::VARCHAR) AS transaction_id,
                   TIMESTAMPTZ '{DAY} 00:00:00+00' + INTERVAL (i % 86400) SECOND
                       + INTERVAL ((i * 7919) % 1000000) MICROSECOND AS transaction_time,
                   (i % 50000) / 100.0 AS transaction_value_one_time,
                   NULL::DOUBLE AS transaction_value_recurring,
                   'sms' AS customer_category,
                   CASE WHEN i % 2 = 0 THEN 'attentive' ELSE 'postscript' END
                       AS customer_subcategory,
                   md5('c' || (i % 400000)::VARCHAR) AS external_customer_id,
                   NULL::VARCHAR AS issue_id,
                   (1000 + i % 5000)::VARCHAR AS external_session_id,
                   'sms_attributed_order' AS product_category,
                   NULL::VARCHAR AS product_subcategory,
                   CASE WHEN i % 1000 = 0 THEN '=HYPERLINK("x")' ELSE 'Order attributed to an SMS'
                       END AS product_name,
                   NULL::VARCHAR AS product_id,
                   1::BIGINT AS product_quantity,
                   (i % 50000) / 100.0 AS product_value_one_time,
                   NULL::DOUBLE AS product_value_recurring
            FROM range({rows}) t(i)
            """
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-deliveries-"))
    sshd = start_sshd()
    try:
        warehouse = work / "warehouse.duckdb"
        make_relation(warehouse, args.rows)
        feed = next(d for d in DELIVERIES if d.name == "transactions")
        delivery = ConfiguredDelivery(
            feed, "deliveries.asapp_transactions", daily_file_partitions("2026-01-01")
        )
        loader = LoaderSettings(work_dir=str(work))
        figures: dict[str, float] = {}
        with duckdb.connect(str(warehouse), read_only=True) as con:
            started = time.perf_counter()
            con.execute(
                f"COPY (SELECT * EXCLUDE (delivery_date) FROM deliveries.asapp_transactions) "
                f"TO '{work / 'floor.csv'}' (FORMAT csv, HEADER true)"
            )
            figures["floor_copy_s"] = time.perf_counter() - started
        folder = work / "files"
        folder.mkdir()
        with (
            staging_connection(loader, folder) as con,
            attached_warehouse(con, str(warehouse), 10) as wh,
        ):
            started = time.perf_counter()
            file_plan = plan(con, delivery, f"{wh}.{delivery.relation}", DAY, None)
            path, rows = write(con, file_plan, feed.style, folder)
            figures["write_s"] = time.perf_counter() - started
            started = time.perf_counter()
            rejects = check(con, delivery, file_plan, path, DAY)
            figures["check_s"] = time.perf_counter() - started
        assert rows == args.rows and rejects.rows == 0, (rows, rejects.rows)
        inbox = sshd.remote_dir / "inbox"
        inbox.mkdir()
        if os.geteuid() == 0:
            shutil.chown(inbox, sshd.user)
        upload = SFTPDeliveryResource(
            host=sshd.host,
            port=sshd.port,
            username=sshd.user,
            private_key_path=str(sshd.client_keys["ed25519"]),
            known_hosts=str(sshd.known_hosts),
            remote_dir=str(inbox),
        )
        started = time.perf_counter()
        sent = upload.upload(path, file_plan.name)
        figures["upload_s"] = time.perf_counter() - started
        size_mb = sent.size / 1e6
        total = figures["write_s"] + figures["check_s"] + figures["upload_s"]
        result = {
            "date": dt.date.today().isoformat(),
            "rows": rows,
            "file_mb": round(size_mb, 1),
            **{k: round(v, 2) for k, v in figures.items()},
            "total_s": round(total, 2),
            "rows_per_s": round(rows / total),
            "write_over_floor": round(figures["write_s"] / figures["floor_copy_s"], 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "cores": os.cpu_count(),
        }
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "deliveries.json").write_text(json.dumps(result, indent=2) + "\n")
        for name, value in result.items():
            print(f"{name:18} {value}")  # noqa: T201  (a benchmark prints its figures)
        return 0
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
