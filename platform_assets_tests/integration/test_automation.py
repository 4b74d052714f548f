"""Automation: each source's new-file sensor and daily schedule, evaluated with Dagster's
contexts against the real sshd."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time

import dagster as dg
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData

from platform_assets.core.settings import Settings
from platform_assets.core.sources import ConfiguredSource
from platform_assets.core.transport.files import LocalFolderResource
from platform_assets.core.transport.sftp import SFTPResource
from platform_assets.defs import accengage, attentive
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.ingest.automation import build_daily_schedule, build_new_file_sensor
from platform_assets_tests.conftest import vendor_env
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    notification,
    write_csv,
)
from platform_assets_tests.sensors import evaluate
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    accengage_name,
    accengage_row,
    write_rows,
)

SINCE_2026 = {"PLATFORM_START_DATE": "2026-01-01"}
APPS = {"ACCENGAGE_APP_IDS": "ios,android"}


_SOURCES: dict[str, ConfiguredSource] = {}


def new_file_sensor(source: ConfiguredSource) -> dg.SensorDefinition:
    sensor = build_new_file_sensor(source)
    _SOURCES[sensor.name] = source
    return sensor


def tick(sensor, key: str, files, cursor: str | None = None, instance=None) -> SensorExecutionData:
    return evaluate(sensor, _SOURCES[sensor.name], {key: files}, cursor, instance)


def requested(result: SensorExecutionData) -> list[tuple]:
    return sorted((r.partition_key, tuple(r.asset_selection)) for r in result.run_requests)


def test_new_file_sensor_requests_each_complete_new_or_changed_file_once(attentive_env):
    sensor = new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    write_csv(
        attentive_env / "attentive_conversions_20261001.csv", CONVERSION_HEADER, [conversion()]
    )
    write_csv(
        attentive_env / "attentive_email_SMS_20261002.csv", NOTIFICATION_HEADER, [notification()]
    )
    for junk in (
        "attentive_conversions_2026100.csv",
        "attentive_conversions_20261399.csv",
        "attentive_conversions_20261001.csv.tmp",
        "notes.txt",
        "attentive_conversions_20251231.csv",
    ):  # last: before the first partition
        (attentive_env / junk).write_text("x")
    sftp = Settings.from_env().sftp("ATTENTIVE")

    first = tick(sensor, "attentive_sftp", sftp)
    assert first.run_requests == []  # seen once: they may still be uploading
    second = tick(sensor, "attentive_sftp", sftp, first.cursor)
    assert requested(second) == [
        ("2026-10-01", (CONVERSIONS.asset_key,)),
        ("2026-10-02", (NOTIFICATIONS.asset_key,)),
    ]
    third = tick(sensor, "attentive_sftp", sftp, second.cursor)
    assert third.run_requests == []  # requested once per version

    write_csv(
        attentive_env / "attentive_conversions_20261001.csv",
        CONVERSION_HEADER,
        [conversion(), conversion("+15550000001")],
    )  # resent, bigger
    fourth = tick(sensor, "attentive_sftp", sftp, third.cursor)
    assert fourth.run_requests == []
    fifth = tick(sensor, "attentive_sftp", sftp, fourth.cursor)
    assert requested(fifth) == [("2026-10-01", (CONVERSIONS.asset_key,))]
    assert fifth.run_requests[0].run_key != second.run_requests[0].run_key


def test_a_growing_file_waits_and_a_late_old_file_is_still_loaded(tmp_path):
    sensor = new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    files = LocalFolderResource(remote_dir=str(tmp_path))
    growing = tmp_path / "attentive_conversions_20261003.csv"
    rows = [conversion(f"+1555000000{i}") for i in range(3)]
    cursor = None
    for n in range(1, 4):  # the vendor is still writing: a new size on every tick
        write_csv(growing, CONVERSION_HEADER, rows[:n])
        os.utime(growing, (1_800_000_000 + n, 1_800_000_000 + n))
        result = tick(sensor, "attentive_sftp", files, cursor)
        assert result.run_requests == []
        cursor = result.cursor
    settled = tick(sensor, "attentive_sftp", files, cursor)
    assert [r.run_key for r in settled.run_requests] == [
        f"attentive_conversions_20261003.csv:{growing.stat().st_size}:1800000003"
    ]
    # a late file for an old day whose mtime is older than everything seen: still new
    late = write_csv(
        tmp_path / "attentive_conversions_20260915.csv", CONVERSION_HEADER, [conversion()]
    )
    os.utime(late, (1_700_000_000, 1_700_000_000))
    first = tick(sensor, "attentive_sftp", files, settled.cursor)
    second = tick(sensor, "attentive_sftp", files, first.cursor)
    assert requested(second) == [("2026-09-15", (CONVERSIONS.asset_key,))]
    # a deleted file is forgotten: the cursor stays as small as the folder
    growing.unlink()
    late.unlink()
    assert json.loads(tick(sensor, "attentive_sftp", files, second.cursor).cursor) == {
        "seen": {},
        "pending": {},
    }


def test_hostile_and_junk_names_never_reach_a_run(tmp_path):
    sensor = new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    for name in (
        "attentive_conversions_20261001.csv\n",
        "attentive_conversions_20261001.csv;rm",
        "attentive_conversions_2026100١.csv",  # an Arabic-Indic digit
        "'attentive_conversions_20261001.csv'",
        "..attentive_conversions_20261001.csv",
        "attentive_conversions_20261001.CSV",
    ):
        (tmp_path / name).write_text("x")
    files = LocalFolderResource(remote_dir=str(tmp_path))
    first = tick(sensor, "attentive_sftp", files)
    assert tick(sensor, "attentive_sftp", files, first.cursor).run_requests == []
    assert json.loads(first.cursor) == {"seen": {}, "pending": {}}


def test_ten_thousand_files_in_one_tick(sshd, remote_dir, monkeypatch):
    """A folder of 10,000 files over the real sshd: one listing, each matching file once."""
    vendor_env(
        monkeypatch, sshd, remote_dir, "ATTENTIVE", "password" if sshd.password else "ed25519"
    )
    sensor = new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    start = dt.date(2026, 1, 1)
    for n in range(5_000):
        day = start + dt.timedelta(days=n % 300)
        (remote_dir / f"other_export_{n}.csv").write_text("x")
        if n < 300:
            (remote_dir / f"attentive_conversions_{day:%Y%m%d}.csv").write_text("x")
    for n in range(10_000 - 5_000 - 300):
        (remote_dir / f"junk_{n}.txt").write_text("x")
    sftp = Settings.from_env().sftp("ATTENTIVE")
    started = time.monotonic()
    first = tick(sensor, "attentive_sftp", sftp)
    second = tick(sensor, "attentive_sftp", sftp, first.cursor)
    seconds = time.monotonic() - started
    assert len(second.run_requests) == 300
    assert {r.partition_key for r in second.run_requests} == {
        (start + dt.timedelta(days=n)).isoformat() for n in range(300)
    }
    print(f"two ticks over 10,000 remote files: {seconds:.2f} s")  # noqa: T201
    assert seconds < 60  # a sanity bound: seconds here, not minutes


def test_a_dead_server_fails_the_tick_and_leaves_the_cursor(tmp_path):
    """The tick raises (the server is gone), so Dagster keeps the previous cursor."""
    sensor = new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    known = tmp_path / "known_hosts"
    known.write_text("")
    dead = SFTPResource(
        host="127.0.0.1", port=port, username="x", password="y", known_hosts=str(known),
        retries=1, retry_backoff_seconds=0.05, connect_timeout=2,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(Exception, match="127.0.0.1"):
        tick(sensor, "attentive_sftp", dead, json.dumps({"seen": {}, "pending": {}}))
    assert time.monotonic() - started < 30


def test_daily_schedule_loads_the_previous_day():
    schedule = build_daily_schedule(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
    tick = dt.datetime(2026, 10, 2, 7, 0, tzinfo=dt.UTC)
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        [request] = schedule(context)
    assert request.partition_key == "2026-10-01"


def test_accengage_sensor_apps_and_gzip(sshd, remote_dir, monkeypatch):
    vendor_env(
        monkeypatch, sshd, remote_dir, "ACCENGAGE", "password" if sshd.password else "ed25519"
    )
    sensor = new_file_sensor(accengage.SOURCE.configure(Settings.from_env({**SINCE_2026, **APPS})))
    header = ACCENGAGE_HEADERS["message_statistics"]
    plain = remote_dir / accengage_name("message_statistics", "ios", "20261001")
    write_rows(plain, header, [accengage_row("message_statistics")], delimiter=";")
    write_rows(
        remote_dir / (accengage_name("message_statistics", "android", "20261001") + ".gz"),
        header,
        [accengage_row("message_statistics")],
        delimiter=";",
        compress=True,
    )
    write_rows(  # an app that is not configured: ignored
        remote_dir / accengage_name("message_statistics", "web", "20261001"),
        header,
        [],
        delimiter=";",
    )
    (remote_dir / "exportMessagesStatistics_ios_20261001.csv.txt").write_text("")  # not ours
    sftp = Settings.from_env().sftp("ACCENGAGE")
    settling = tick(sensor, "accengage_sftp", sftp)
    assert settling.run_requests == []
    first = tick(sensor, "accengage_sftp", sftp, settling.cursor)
    got = sorted(
        (r.partition_key.keys_by_dimension["app"], r.tags["source_file"].rsplit("/", 1)[1])
        for r in first.run_requests
    )
    assert got == [
        ("android", "exportMessagesStatistics_android_20261001.csv.gz"),
        ("ios", "exportMessagesStatistics_ios_20261001.csv"),
    ]
    assert {r.partition_key.keys_by_dimension["date"] for r in first.run_requests} == {"2026-10-01"}
    # the vendor compresses the ios file after 24 hours: not a new file
    write_rows(
        plain.with_name(plain.name + ".gz"),
        header,
        [accengage_row("message_statistics")],
        delimiter=";",
        compress=True,
    )
    second = tick(sensor, "accengage_sftp", sftp, first.cursor)
    assert second.run_requests == []  # both copies listed: the plain one is unchanged
    plain.unlink()
    third = tick(sensor, "accengage_sftp", sftp, second.cursor)
    assert third.run_requests == []  # only the gzipped copy now: still the same file
    # a re-sent file (new content) is loaded again
    write_rows(
        plain,
        header,
        [accengage_row("message_statistics"), accengage_row("message_statistics", message_id="9")],
        delimiter=";",
    )
    settling = tick(sensor, "accengage_sftp", sftp, third.cursor)
    assert settling.run_requests == []
    fourth = tick(sensor, "accengage_sftp", sftp, settling.cursor)
    assert [r.tags["source_file"].rsplit("/", 1)[1] for r in fourth.run_requests] == [
        "exportMessagesStatistics_ios_20261001.csv"
    ]


def test_accengage_schedule_requests_every_app_of_the_gmt1_day():
    schedule = build_daily_schedule(
        accengage.SOURCE.configure(Settings.from_env({**SINCE_2026, **APPS}))
    )
    assert schedule.execution_timezone == "Etc/GMT-1"
    at = dt.datetime(2026, 10, 2, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        requests = schedule(context)
    assert sorted(r.partition_key.keys_by_dimension["app"] for r in requests) == ["android", "ios"]
    assert {r.partition_key.keys_by_dimension["date"] for r in requests} == {"2026-10-01"}


def test_an_empty_cursor_does_not_request_what_is_already_loaded(attentive_env, warehouse):
    """A new deployment's first ticks skip a file version the partition's latest
    materialization loaded (name, size, mtime); a re-sent version is still requested."""
    from dagster_duckdb import DuckDBResource

    from platform_assets.ingest.assets import build_source_assets

    source = attentive.SOURCE.configure(Settings.from_env(SINCE_2026))
    loaded = attentive_env / "attentive_conversions_20261001.csv"
    write_csv(loaded, CONVERSION_HEADER, [conversion()])
    write_csv(
        attentive_env / "attentive_email_SMS_20261001.csv", NOTIFICATION_HEADER, [notification()]
    )
    sftp = Settings.from_env().sftp("ATTENTIVE")
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            build_source_assets(source),
            selection=[CONVERSIONS.asset_key],
            partition_key="2026-10-01",
            resources={"attentive_sftp": sftp, "duckdb": DuckDBResource(database=warehouse)},
            instance=instance,
        ).success
        sensor = new_file_sensor(source)

        def tick_with_instance(cursor: str | None) -> SensorExecutionData:
            return tick(sensor, "attentive_sftp", sftp, cursor, instance)

        first = tick_with_instance(None)
        second = tick_with_instance(first.cursor)
        assert requested(second) == [("2026-10-01", (NOTIFICATIONS.asset_key,))]
        # the vendor re-sends the loaded file (a new mtime): it is requested
        os.utime(loaded, (time.time() + 60, time.time() + 60))
        third = tick_with_instance(second.cursor)
        fourth = tick_with_instance(third.cursor)
        assert requested(fourth) == [("2026-10-01", (CONVERSIONS.asset_key,))]
