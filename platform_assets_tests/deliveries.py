"""Deliveries under test: the real sshd with a write-enabled account (``inbox``), ASAPP's and
Accengage's delivery settings (``delivery_env``), Accengage's orders relation, and the delivery
jobs run in process. The fixtures are registered in conftest.py."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets_tests.sshd import SshServer

DAY = dt.date(2026, 10, 5)


def _vendor_env(monkeypatch, sshd, remote_dir, prefix, auth):  # noqa: ANN001, ANN202
    from platform_assets_tests.conftest import vendor_env

    vendor_env(monkeypatch, sshd, remote_dir, prefix, auth)


@pytest.fixture
def inbox(sshd: SshServer, remote_dir: Path) -> Path:
    if os.geteuid() == 0:
        shutil.chown(remote_dir, sshd.user)
    return remote_dir


@pytest.fixture
def delivery_env(monkeypatch, sshd, remote_dir, inbox, warehouse) -> Path:
    """ASAPP and Accengage: the ingestion settings (host, port, known_hosts) and a delivery
    account of their own writing to ``inbox``; two Accengage apps, android's member-id header
    ``client_ref``; the warehouse file."""
    auth = "password" if sshd.password else "ed25519"
    for prefix in ("ASAPP", "ACCENGAGE"):
        _vendor_env(monkeypatch, sshd, remote_dir, prefix, auth)
        monkeypatch.setenv(f"{prefix}_DELIVERY_SFTP_USERNAME", sshd.user)
        if sshd.password:
            monkeypatch.setenv(f"{prefix}_DELIVERY_SFTP_PASSWORD", sshd.password)
        else:
            monkeypatch.setenv(
                f"{prefix}_DELIVERY_SFTP_PRIVATE_KEY_PATH", str(sshd.client_keys[auth])
            )
        monkeypatch.setenv(f"{prefix}_DELIVERY_SFTP_REMOTE_DIR", str(inbox))
    monkeypatch.setenv("ACCENGAGE_APP_IDS", "ios,android")
    monkeypatch.setenv("ACCENGAGE_MEMBER_ID_COLUMNS", "android=client_ref")
    monkeypatch.setenv("DUCKDB_PATH", warehouse)
    monkeypatch.setenv("PLATFORM_START_DATE", "2026-09-01")
    monkeypatch.setenv("PLATFORM_WORK_DIR", str(Path(warehouse).parent / "work"))
    return inbox


def run(job: str, *, assets: list[dg.AssetKey] | None = None, day: dt.date = DAY):
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=day.isoformat(),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=assets,
    )


def sql(warehouse: str, *statements: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(warehouse) as con:
        for s in statements[:-1]:
            con.execute(s)
        return con.execute(statements[-1], params or []).fetchall()


def read_csv(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run did not fail"
    return str(failures[0].step_failure_data.error.message)


# -- ASAPP -----------------------------------------------------------------------------------

ORDERS_DDL = (
    "CREATE SCHEMA IF NOT EXISTS deliveries",
    "CREATE TABLE deliveries.accengage_sms_orders (delivery_date DATE, app_id VARCHAR, "
    "member_id VARCHAR, last_sms_order_at TIMESTAMP, last_sms_order_value DOUBLE, "
    "last_sms_vendor VARCHAR)",
)


def insert_orders(warehouse: str, rows: list[tuple]) -> None:
    with duckdb.connect(warehouse) as con:
        for s in ORDERS_DDL:
            con.execute(s)
        con.executemany(
            "INSERT INTO deliveries.accengage_sms_orders VALUES (?, ?, ?, ?, ?, ?)", rows
        )


def gmt1(ts: dt.datetime) -> str:
    """A UTC time as Accengage writes dates (GMT+1, no offset)."""
    return (ts + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")


def all_quoted(path: Path) -> bool:
    """Every field of every line (header included) double-quoted, ';'-separated."""
    field = r'"(?:[^"]|"")*"'
    lines = path.read_text(encoding="utf-8").splitlines()
    return bool(lines) and all(re.fullmatch(rf"{field}(?:;{field})*", line) for line in lines)
