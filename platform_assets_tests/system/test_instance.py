"""The instance config that ships with the code, run for real: a fresh ``DAGSTER_HOME`` with the
shipped ``dagster_home/dagster.yaml`` (its SQLite storage, and PostgreSQL on a real server with
the shipped ``storage-postgres.yaml``), migrated once, the daemon's run queue, and 12 partition
runs of several tables submitted at once. All succeed; the tables equal the files exactly. The
code location is served as ``make dev`` serves it (platform_assets/demo/serve.py: one code server
for the daemon and the CLI, each run forked from it warm).

Slow (a daemon and a process per run): marked ``slow``; CI runs it.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from platform_assets.demo.serve import code_server
from platform_assets_tests import dagster_cli as cli
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    write_csv,
)
from platform_assets_tests.postgres import postgres_server
from platform_assets_tests.ui import LAUNCH_BACKFILL
from platform_assets_tests.vendorfiles import POSTSCRIPT_HEADERS, postscript_row, write_rows

REPO = Path(__file__).resolve().parents[2]
DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(6)]
BACKFILL_DAYS = [dt.date(2026, 9, 1) + dt.timedelta(days=n) for n in range(10)]


@pytest.fixture
def storage(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The instance's storage: the shipped config's SQLite files, or PostgreSQL (a real server,
    the shipped ``storage-postgres.yaml`` block appended): the variables it needs."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_server() as server:
        yield server.env()


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["sqlite", "postgres"], indirect=True)
def test_twelve_runs_at_once_through_the_run_queue(sshd, remote_dir, tmp_path, storage):
    home = tmp_path / "home"
    home.mkdir()
    shipped = REPO / "dagster_home"
    config = (shipped / "dagster.yaml").read_text()
    if storage:  # PostgreSQL: the shipped storage block in place of the SQLite one, as documented
        instance = yaml.safe_load(config)
        instance["storage"] = yaml.safe_load((shipped / "storage-postgres.yaml").read_text())[
            "storage"
        ]
        config = yaml.safe_dump(instance)
    (home / "dagster.yaml").write_text(config)
    warehouse = tmp_path / "warehouse.duckdb"
    expected: dict[str, set[str]] = {"conversions": set(), "shops": set()}
    for n, day in enumerate(DAYS):
        rows = [conversion(f"+1555{n:03d}{i:04d}") for i in range(5 + n)]
        write_csv(remote_dir / f"attentive_conversions_{day:%Y%m%d}.csv", CONVERSION_HEADER, rows)
        write_csv(remote_dir / f"attentive_email_SMS_{day:%Y%m%d}.csv", NOTIFICATION_HEADER, [])
        expected["conversions"] |= {conversion_key(r) for r in rows}
        shops = [postscript_row("dim_shops", SHOP_ID=f"s{n}-{i}") for i in range(3)]
        for table in POSTSCRIPT_HEADERS:
            write_rows(
                remote_dir / f"postscript_{table}_{day:%Y%m%d}.csv",
                POSTSCRIPT_HEADERS[table],
                shops if table == "dim_shops" else [],
            )
        expected["shops"] |= {r["SHOP_ID"] for r in shops}
    for n, day in enumerate(BACKFILL_DAYS):  # for the asset backfill, after the 12 runs
        rows = [conversion(f"+1556{n:03d}{i:04d}") for i in range(3)]
        write_csv(remote_dir / f"attentive_conversions_{day:%Y%m%d}.csv", CONVERSION_HEADER, rows)
        expected["conversions"] |= {conversion_key(r) for r in rows}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "ATTENTIVE_"))}
    auth = "password" if sshd.password else "ed25519"
    for prefix in ("ATTENTIVE", "POSTSCRIPT"):
        env.update(sshd.env(prefix, auth))
        env[f"{prefix}_SFTP_REMOTE_DIR"] = str(remote_dir)
    env.update(
        DAGSTER_HOME=str(home),
        DUCKDB_PATH=str(warehouse),
        PLATFORM_START_DATE="2026-09-01",
        RAW_ARCHIVE_DIR=str(tmp_path / "raw"),
        PLATFORM_BACKFILL_PARTITIONS_PER_RUN="4",
    )
    env.update(storage)
    # the `dagster` commands run in this process (platform_assets_tests/dagster_cli.py)
    with cli.deployment_instance(env) as instance:
        cli.migrate(instance)  # once, before any run (no first-run race on its storage)
        # `make dev`'s code server (runs forked from it warm): the daemon, the CLI and the runs
        with code_server(env, tmp_path / "workspace.yaml", cwd=REPO) as (_, workspace):
            # only the loads here: the models' automation (running by default) would add runs
            cli.stop_sensors(instance, workspace, "models_automation_sensor")
            # Dagster's daemon, its backfill loop ticking every 2 s instead of 30 s as `make
            # dev`'s does (platform_assets/demo/daemon.py): the queue, pools and retries shipped
            daemon = subprocess.Popen(
                [sys.executable, "-m", "platform_assets.demo.daemon", "run", "-w", str(workspace)],
                env=env,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                for job in ("attentive_daily_job", "postscript_daily_job"):
                    cli.backfill(instance, workspace, job, [d.isoformat() for d in DAYS])
                runs = _wait_for_runs(instance, 12, deadline=time.monotonic() + 900)
                # an asset backfill of 10 days, launched as the UI launches it: the daemon runs
                # it as range runs of at most PLATFORM_BACKFILL_PARTITIONS_PER_RUN (4) days
                backfill_id = _launch_backfill(instance, workspace, BACKFILL_DAYS)
                backfill_runs = _wait_for_runs(
                    instance, 15, deadline=time.monotonic() + 900, backfill_id=backfill_id
                )
            finally:
                os.killpg(daemon.pid, signal.SIGTERM)
                daemon.wait(timeout=60)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 12
    assert len({r.tags["dagster/partition"] for r in runs}) == 6
    assert [r.status for r in backfill_runs] == [dg.DagsterRunStatus.SUCCESS] * 3
    ranges = sorted(
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in backfill_runs
    )
    assert ranges == [
        ("2026-09-01", "2026-09-04"),
        ("2026-09-05", "2026-09-08"),
        ("2026-09-09", "2026-09-10"),
    ]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        keys = {
            k
            for (k,) in con.execute(
                "SELECT __sync_key FROM attentive_mobile.conversions"
            ).fetchall()
        }
        shops = {k for (k,) in con.execute('SELECT "SHOP_ID" FROM postscript.dim_shops').fetchall()}
    assert keys == expected["conversions"] and shops == expected["shops"]


def _launch_backfill(instance: dg.DagsterInstance, workspace: Path, days: list[dt.date]) -> str:
    """``launchPartitionBackfill``, the UI's mutation, as the ``dagster-graphql`` CLI sends it."""
    params = {
        "assetSelection": [{"path": ["attentive_mobile", "conversions"]}],
        "partitionNames": [d.isoformat() for d in days],
    }
    answer = cli.graphql(instance, workspace, LAUNCH_BACKFILL, {"params": params})
    result = answer["data"]["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    return result["backfillId"]


def _wait_for_runs(
    instance: dg.DagsterInstance, count: int, deadline: float, backfill_id: str | None = None
) -> list[dg.DagsterRun]:
    """Wait until ``count`` runs exist and all finished; the runs (of ``backfill_id``)."""
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    while True:
        runs = instance.get_runs()
        done = [r for r in runs if r.status in finished]
        backfill = instance.get_backfill(backfill_id) if backfill_id else None
        settled = backfill is None or backfill.status.value != "REQUESTED"
        if len(runs) >= count and len(done) == len(runs) and settled:
            if backfill_id:
                runs = [r for r in runs if r.tags.get("dagster/backfill") == backfill_id]
            return sorted(runs, key=lambda r: r.tags.get("dagster/partition", ""))
        if time.monotonic() > deadline:
            states = sorted(str(r.status) for r in runs)
            pytest.fail(f"runs did not finish in time: {states}")
        time.sleep(2)
