"""Document 001's loyalty program under test: a local HTTP server implementing the documented
contract (``platform_assets/demo/api_server.py``: no real Attentive or Annex Cloud can run here), a
real DuckDB warehouse holding the loyalty relations, and the loyalty assets run in process.
The fixtures ``api`` and ``loyalty_env`` are registered in conftest.py."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets.compose import build_definitions
from platform_assets.core.settings import Settings
from platform_assets.defs import VENDOR_SOURCES
from platform_assets.demo.api_server import ApiServer
from platform_assets.outbound.loyalty.resources import AttentiveApi

TOKEN = "canary-attentive-TOKEN-5f2a9c"
MESSAGES_TOKEN = "canary-messages-TOKEN-77e1b0"
LOYALTY_TOKEN = "canary-loyalty-TOKEN-19d4aa"
SITE = "site-4242"
SOURCE_ID = "132109"
NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None)


@pytest.fixture
def api():
    # document 001's token, computed by hand: PHP's json_encode of the array has no spaces
    annex = base64.b64encode(f'["{LOYALTY_TOKEN}","{SITE}"]'.encode()).decode()
    with ApiServer(TOKEN, MESSAGES_TOKEN, annex) as server:
        yield server


def attentive(api: ApiServer, **kw) -> AttentiveApi:
    settings = dict(
        base_url=api.url,
        token=TOKEN,
        messages_token=MESSAGES_TOKEN,
        sign_up_source_id=SOURCE_ID,
        backoff_seconds=0.01,
    )
    settings.update(kw)
    return AttentiveApi(**settings)


MEMBERS = [
    # member, phone (as the loyalty program holds it), email, SMS opt-in
    ("m1", "(770) 765-1750", "Ann@Example.com", True),
    ("m2", "+1 770 765 1751", "bob@example.com", False),
    ("m3", "770-765-1752", "cy@example.com", True),  # not eligible at Attentive
    ("m4", "12", "dee@example.com", True),  # not a phone number
]


@pytest.fixture
def loyalty_env(api, monkeypatch, tmp_path) -> Path:
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "ATTENTIVE_API_TOKEN": TOKEN,
        "ATTENTIVE_MESSAGES_API_TOKEN": MESSAGES_TOKEN,
        "ATTENTIVE_SIGN_UP_SOURCE_ID": SOURCE_ID,
        "ATTENTIVE_API_URL": api.url,
        "ANNEX_CLOUD_API_URL": api.url,
        "ANNEX_CLOUD_SITE_ID": SITE,
        "ANNEX_CLOUD_LOYALTY_TOKEN": LOYALTY_TOKEN,
        "DUCKDB_PATH": str(warehouse),
        "LOYALTY_EXPORT_DIR": str(tmp_path / "exports"),
        "PLATFORM_WORK_DIR": str(tmp_path / "work"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    api.ineligible_phones.add("+17707651752")
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE SCHEMA loyalty")
        con.execute(
            "CREATE TABLE loyalty.members (member_id VARCHAR, phone VARCHAR, email VARCHAR, "
            "sms_opt_in BOOLEAN)"
        )
        con.executemany("INSERT INTO loyalty.members VALUES (?, ?, ?, ?)", MEMBERS)
        con.execute(
            "CREATE TABLE loyalty.actions (action_id VARCHAR, member_id VARCHAR, "
            "action_type VARCHAR, action_time TIMESTAMP, message_text VARCHAR)"
        )
        con.execute("CREATE SCHEMA deliveries")
        con.execute("CREATE TABLE deliveries.sms_converters (delivery_date DATE, email VARCHAR)")
    return warehouse


def add_actions(warehouse: Path, rows: list[tuple]) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.executemany("INSERT INTO loyalty.actions VALUES (?, ?, ?, ?, ?)", rows)


def run_loyalty(
    asset: str, config: dict | None = None, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    defs = build_definitions(VENDOR_SOURCES, Settings.from_env())
    run_config = {"ops": {f"loyalty__{asset}": {"config": config}}} if config else None
    return defs.resolve_job_def("loyalty_job").execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(["loyalty", asset])],
        raise_on_error=False,
        run_config=run_config,
    )


def journal(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "SELECT call_key, attempt, status FROM platform.api_calls ORDER BY started_at, 1"
        ).fetchall()


def check_of(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation
