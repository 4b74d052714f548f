"""The instance config that ships with the code, run for real: a fresh ``DAGSTER_HOME`` with the
shipped ``dagster_home/dagster.yaml``, migrated once, the daemon's run queue, and 12 partition
runs of several tables submitted at once. All succeed; the tables equal the files exactly.

Slow (a daemon and a process per run): marked ``slow``; CI runs it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    write_csv,
)
from platform_assets_tests.vendorfiles import POSTSCRIPT_HEADERS, postscript_row, write_rows

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DAYS = [dt.date(2026, 10, 1) + dt.timedelta(days=n) for n in range(6)]


@pytest.mark.slow
def test_twelve_runs_at_once_through_the_run_queue(sshd, remote_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: platform_assets.definitions\n"
        f"      location_name: platform_assets\n      working_directory: {REPO}\n"
    )
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
    )
    # the instance is migrated once, before any run (no first-run race on its storage)
    subprocess.run([BIN / "dagster", "instance", "migrate"], env=env, check=True, timeout=120)
    # only the loads here: the models' automation (running by default) would add its own runs
    subprocess.run(
        [BIN / "dagster", "sensor", "stop", "-w", str(workspace), "models_automation_sensor"],
        env=env, cwd=REPO, check=True, timeout=300, capture_output=True,
    )  # fmt: skip
    daemon = subprocess.Popen(
        [BIN / "dagster-daemon", "run", "-w", str(workspace)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        partitions = ",".join(d.isoformat() for d in DAYS)
        for job in ("attentive_daily_job", "postscript_daily_job"):
            subprocess.run(
                [BIN / "dagster", "job", "backfill", "-w", str(workspace), "-j", job,
                 "--partitions", partitions, "--noprompt"],
                env=env, cwd=REPO, check=True, timeout=300, capture_output=True,
            )  # fmt: skip
        os.environ["DAGSTER_HOME"] = str(home)  # this process reads the same instance
        try:
            with dg.DagsterInstance.get() as instance:
                runs = _wait_for_runs(instance, 12, deadline=time.monotonic() + 900)
        finally:
            del os.environ["DAGSTER_HOME"]
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 12
    assert len({r.tags["dagster/partition"] for r in runs}) == 6
    with duckdb.connect(str(warehouse), read_only=True) as con:
        keys = {
            k
            for (k,) in con.execute(
                "SELECT __sync_key FROM attentive_mobile.conversions"
            ).fetchall()
        }
        shops = {k for (k,) in con.execute('SELECT "SHOP_ID" FROM postscript.dim_shops').fetchall()}
    assert keys == expected["conversions"] and shops == expected["shops"]


def _wait_for_runs(
    instance: dg.DagsterInstance, count: int, deadline: float
) -> list[dg.DagsterRun]:
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    while True:
        runs = instance.get_runs()
        done = [r for r in runs if r.status in finished]
        if len(runs) >= count and len(done) == len(runs):
            return sorted(runs, key=lambda r: r.tags.get("dagster/partition", ""))
        if time.monotonic() > deadline:
            states = sorted(str(r.status) for r in runs)
            pytest.fail(f"runs did not finish in time: {states}")
        time.sleep(2)
