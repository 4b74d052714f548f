"""The command-line paths a user takes: `dagster asset materialize` and `make demo`."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from platform_assets.demo import people
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    conversion_key,
    notification,
    notification_key,
    write_csv,
)

REPO = Path(__file__).resolve().parents[2]
DAGSTER = str(Path(sys.executable).with_name("dagster"))


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "ATTENTIVE_",
                "POSTSCRIPT_",
                "ASAPP_",
                "ACCENGAGE_",
                "DUCKDB_",
                "PLATFORM_",
                "DAGSTER_",
                "RAW_ARCHIVE_",
            )
        )
    }
    env["RAW_ARCHIVE_DIR"] = str(tmp_path / "raw")
    env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(env["DAGSTER_HOME"]).mkdir()
    return env


def test_dagster_cli_materializes_a_partition_from_environment_variables(
    sshd, remote_dir, tmp_path
):
    rows = [conversion("+15551230001"), conversion("+15551230002")]
    write_csv(remote_dir / "attentive_conversions_20261001.csv", CONVERSION_HEADER, rows)
    events = [notification(), notification("JOIN", email=None)]
    write_csv(remote_dir / "attentive_email_SMS_20261001.csv", NOTIFICATION_HEADER, events)
    env = clean_env(tmp_path)
    env.update(sshd.env("ATTENTIVE", auth="ed25519"))  # key auth through the env contract
    env["ATTENTIVE_SFTP_REMOTE_DIR"] = str(remote_dir)
    env["DUCKDB_PATH"] = str(tmp_path / "wh.duckdb")
    env["PLATFORM_START_DATE"] = "2026-09-01"
    cmd = [
        DAGSTER,
        "asset",
        "materialize",
        "-m",
        "platform_assets.definitions",
        "--select",
        "attentive_mobile/conversions,attentive_mobile/notifications",
        "--partition",
        "2026-10-01",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with duckdb.connect(env["DUCKDB_PATH"], read_only=True) as con:
        got = con.execute(
            "SELECT __sync_key, __file_date::VARCHAR FROM attentive_mobile.conversions ORDER BY 1"
        ).fetchall()
        notified = con.execute("SELECT __sync_key FROM attentive_mobile.notifications").fetchall()
    assert got == sorted((conversion_key(r), "2026-10-01") for r in rows)
    assert sorted(k for (k,) in notified) == sorted(notification_key(r) for r in events)

    missing = cmd[:-1] + ["2026-10-02"]
    done = subprocess.run(missing, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert f"{remote_dir}/attentive_conversions_20261002.csv" in done.stdout + done.stderr


# Start days that have broken date arithmetic before: a year boundary (the older day gzipped
# across it), a leap day, the day Europe's clocks go forward (Accengage's GMT+1 stays fixed).
DEMO_DAYS = [
    pytest.param(dt.date(2025, 1, 1), id="year-boundary"),
    pytest.param(dt.date(2024, 3, 1), id="leap-day", marks=pytest.mark.slow),
    pytest.param(dt.date(2026, 3, 30), id="dst-change", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("today", DEMO_DAYS)
def test_make_demo_path_loads_every_partition_from_the_embedded_server(tmp_path, today):
    """The small demo, ending the day before ``today``: every table, mart and delivery, and the
    demo's regulars at every vendor (a property of the sample data, not luck of the day)."""
    env = clean_env(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "platform_assets.demo",
            "run",
            "--data-dir",
            str(tmp_path / "data"),
            "--days",
            "2",
            "--rows",
            "400",
            "--today",
            today.isoformat(),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    schemas = ("attentive_mobile.", "postscript.", "asapp.", "accengage.")
    summary = [line.split() for line in done.stdout.splitlines() if line.startswith(schemas)]
    assert len(summary) == 15  # every documented table
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        for table, partitions, rows_read, rows, keys, rejects in summary:
            key = con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || "
                "table_name = ? AND column_name IN ('__sync_key', 'ATTRIBUTION_ID', 'MESSAGE_ID', "
                "'PLATFORM_ACTION_DETAIL_ID', 'PLATFORM_ACTION_ID', 'SHOP_ID', 'SUBSCRIBER_ID') "
                "ORDER BY column_name = '__sync_key' DESC, ordinal_position LIMIT 1",
                [table],
            ).fetchone()[0]
            count, distinct, days = con.execute(
                f'SELECT count(*), count(DISTINCT "{key}"), count(DISTINCT __file_date) '
                f"FROM {table}"
            ).fetchone()
            assert (int(rows), int(keys), int(rejects)) == (count, distinct, 0), table
            assert int(rows_read) >= count > 0 and days == 2
            assert int(partitions) == (4 if table.startswith("accengage.") else 2)
        # the older Accengage day was served gzipped, as the vendor does after 24 hours
        sources = con.execute(
            "SELECT DISTINCT regexp_extract(__source_file, '\\.csv(\\.gz)?$') "
            "FROM accengage.devices ORDER BY 1"
        ).fetchall()
        assert sources == [(".csv",), (".csv.gz",)]
        # the models were built over the loads, and the demo's people span vendors
        for mart in ("sms_daily_performance", "push_message_performance",
                     "contact_center_outcomes", "customer_timeline"):  # fmt: skip
            assert con.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0, mart
        [(everywhere,)] = con.execute(
            "SELECT count(*) FROM (SELECT customer_key FROM marts.customer_timeline "
            "GROUP BY 1 HAVING count(DISTINCT vendor) = 4)"
        ).fetchall()
        assert everywhere >= len(people.REGULARS)
        # the last day went out: ASAPP's three feeds, each Accengage app's list and updates;
        # the loyalty program's calls all succeeded
        sent = sorted(
            n for (n,) in con.execute("SELECT file_name FROM platform.deliveries").fetchall()
        )
        calls = dict(
            con.execute("SELECT kind, count(*) FROM platform.api_calls GROUP BY 1").fetchall()
        )
        statuses = {
            s for (s,) in con.execute("SELECT DISTINCT status FROM platform.api_calls").fetchall()
        }
    yesterday = (today - dt.timedelta(days=1)).strftime("%Y%m%d")
    assert sent == sorted(
        [
            f"asapp_{feed}_{yesterday}.csv"
            for feed in ("call_metadata", "transcripts", "transactions")
        ]
        + [f"staticlist_smsconverters_{app}_{yesterday}000000.csv" for app in ("android", "ios")]
        + [f"updateDevices_{app}_{yesterday}.csv" for app in ("android", "ios")]
    )
    inbox = tmp_path / "data" / "demo" / "sftp"
    assert all((inbox / "asapp" / "in" / n).exists() for n in sent if n.startswith("asapp_"))
    assert {"subscribe", "message"} <= set(calls) and statuses == {"succeeded"}
    # the loyalty flow runs on the real clock: its segment (SMS converters of the last 30 days)
    # is pushed only when the demo's last day lies in that window; an empty segment is not sent
    window = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=29)
    assert ("segment" in calls) == (today - dt.timedelta(days=1) >= window)
    assert "customers with events at more than one vendor" in done.stdout
    # a quiet demo: one screen, one line per stage; dbt's and Dagster's logs in the log file,
    # and the models built by one dbt invocation per group
    assert len(done.stdout.splitlines()) <= 60, done.stdout
    stages = [line.split()[0] for line in done.stdout.splitlines()[:5]]
    assert stages == ["files", "loads", "models", "deliveries", "loyalty"]
    log = (tmp_path / "data" / "demo.log").read_text()
    assert f"full log: {tmp_path / 'data' / 'demo.log'}" in done.stdout
    assert log.count("Running with dbt=") == 3 and "Running with dbt=" not in done.stdout
    # each in a fork of the demo's warm dbt (its log line), none a new dbt process
    assert log.count("warm dbt: build in pid") == 3
    # this data folder is new, yet dbt's profile is the one every warehouse has (the file's path
    # is in the dbt process's environment): no invocation parses the project for a new profile
    assert "profile has changed" not in log
    key = (tmp_path / "data" / "demo" / "pii_key").read_text().strip()
    assert len(key) == 64 and key not in done.stdout + done.stderr
    for secret_var in ("ATTENTIVE_SFTP_PASSWORD",):
        assert secret_var not in done.stdout
