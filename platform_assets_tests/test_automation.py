"""Automation: each source's new-file sensor and daily schedule, evaluated with Dagster's
contexts against the real sshd."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from platform_assets.defs import accengage, attentive
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.lib.automation import build_daily_schedule, build_new_file_sensor
from platform_assets.lib.settings import Settings
from platform_assets_tests.conftest import vendor_env
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    notification,
    write_csv,
)
from platform_assets_tests.vendorfiles import (
    ACCENGAGE_HEADERS,
    accengage_name,
    accengage_row,
    write_rows,
)

SINCE_2026 = {"PLATFORM_START_DATE": "2026-01-01"}
APPS = {"ACCENGAGE_APP_IDS": "ios,android"}


def test_new_file_sensor_requests_each_new_or_changed_file_once(attentive_env):
    sensor = build_new_file_sensor(attentive.SOURCE.configure(Settings.from_env(SINCE_2026)))
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

    with dg.build_sensor_context(resources={"attentive_sftp": sftp}) as context:
        first = sensor(context)
    requests = sorted((r.partition_key, tuple(r.asset_selection)) for r in first.run_requests)
    assert requests == [
        ("2026-10-01", (CONVERSIONS.asset_key,)),
        ("2026-10-02", (NOTIFICATIONS.asset_key,)),
    ]

    with dg.build_sensor_context(resources={"attentive_sftp": sftp}, cursor=first.cursor) as ctx:
        assert sensor(ctx).run_requests == []

    write_csv(
        attentive_env / "attentive_conversions_20261001.csv",
        CONVERSION_HEADER,
        [conversion(), conversion("+15550000001")],
    )  # resent, bigger
    with dg.build_sensor_context(resources={"attentive_sftp": sftp}, cursor=first.cursor) as ctx:
        third = sensor(ctx)
    assert [(r.partition_key, tuple(r.asset_selection)) for r in third.run_requests] == [
        ("2026-10-01", (CONVERSIONS.asset_key,))
    ]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key


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
    sensor = build_new_file_sensor(
        accengage.SOURCE.configure(Settings.from_env({**SINCE_2026, **APPS}))
    )
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
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}) as context:
        first = sensor(context)
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
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=first.cursor) as ctx:
        second = sensor(ctx)
    assert second.run_requests == []  # both copies listed: the plain one is unchanged
    plain.unlink()
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=second.cursor) as ctx:
        third = sensor(ctx)
    assert third.run_requests == []  # only the gzipped copy now: still the same file
    # a re-sent file (new content) is loaded again
    write_rows(
        plain,
        header,
        [accengage_row("message_statistics"), accengage_row("message_statistics", message_id="9")],
        delimiter=";",
    )
    with dg.build_sensor_context(resources={"accengage_sftp": sftp}, cursor=third.cursor) as ctx:
        fourth = sensor(ctx)
    assert [r.tags["source_file"].rsplit("/", 1)[1] for r in fourth.run_requests] == [
        "exportMessagesStatistics_ios_20261001.csv"
    ]


def test_accengage_schedule_requests_every_app_of_the_gmt1_day():
    schedule = build_daily_schedule(
        accengage.SOURCE.configure(Settings.from_env({**SINCE_2026, **APPS}))
    )
    assert schedule.execution_timezone == "Etc/GMT-1"
    tick = dt.datetime(2026, 10, 2, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with dg.build_schedule_context(scheduled_execution_time=tick) as context:
        requests = schedule(context)
    assert sorted(r.partition_key.keys_by_dimension["app"] for r in requests) == ["android", "ios"]
    assert {r.partition_key.keys_by_dimension["date"] for r in requests} == {"2026-10-01"}
