"""Arrival: each table's ``file_arrival`` check per partition goes red when the day's file is
not on the (real) server at its deadline, and green when the file lands and loads."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_duckdb import DuckDBResource

from platform_assets.core.settings import Settings
from platform_assets.defs import accengage, attentive
from platform_assets.defs.attentive import CONVERSIONS, NOTIFICATIONS
from platform_assets.ingest.arrival import ARRIVAL_CHECK, build_arrival_sensor, deadline, due_day
from platform_assets.ingest.assets import build_source_assets
from platform_assets_tests.csvfiles import (
    CONVERSION_HEADER,
    NOTIFICATION_HEADER,
    conversion,
    notification,
    write_csv,
)
from platform_assets_tests.sensors import evaluate


def test_a_days_deadline_is_the_first_arrival_tick_of_the_next_day_in_the_vendors_zone():
    gmt1 = ZoneInfo(accengage.SOURCE.timezone)
    cron = accengage.SOURCE.arrival_cron  # 05:00, GMT+1 (document 002)
    assert deadline(dt.date(2026, 10, 5), cron, accengage.SOURCE.timezone) == dt.datetime(
        2026, 10, 6, 5, 0, tzinfo=gmt1
    )
    just_before = dt.datetime(2026, 10, 6, 3, 59, tzinfo=dt.UTC)  # 04:59 GMT+1
    assert due_day(just_before, cron, accengage.SOURCE.timezone)[0] == dt.date(2026, 10, 4)
    at = dt.datetime(2026, 10, 6, 4, 0, tzinfo=dt.UTC)  # 05:00 GMT+1
    assert due_day(at, cron, accengage.SOURCE.timezone)[0] == dt.date(2026, 10, 5)


def test_the_arrival_check_is_red_at_the_deadline_and_green_once_the_file_loads(
    attentive_env, warehouse, monkeypatch
):
    # due at midnight UTC: the day due now is yesterday
    monkeypatch.setenv("ATTENTIVE_ARRIVAL_CRON", "0 0 * * *")
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    key = day.isoformat()
    write_csv(
        attentive_env / f"attentive_conversions_{day:%Y%m%d}.csv",
        CONVERSION_HEADER,
        [conversion(ts=f"{day}T10:00:00Z")],
    )
    settings = Settings.from_env()
    source = attentive.SOURCE.configure(settings)
    sensor = build_arrival_sensor(source)
    files = settings.sftp("ATTENTIVE")
    with dg.instance_for_test() as instance:
        result = evaluate(sensor, source, {"attentive_sftp": files}, None, instance)
        assert result.cursor == key
        verdicts = {(e.asset_key, e.partition, e.passed) for e in result.asset_events}
        assert verdicts == {
            (CONVERSIONS.asset_key, key, True),
            (NOTIFICATIONS.asset_key, key, False),
        }
        late = next(e for e in result.asset_events if not e.passed)
        assert f"attentive_email_SMS_{day:%Y%m%d}.csv had not arrived" in (late.description or "")
        for event in result.asset_events:  # what the daemon does with a sensor's asset events
            instance.report_runless_asset_event(event)
        assert _history(instance, NOTIFICATIONS.asset_key, key) == [False]

        # the same day is reported once
        assert evaluate(sensor, source, {"attentive_sftp": files}, key, instance).skip_message

        # the vendor's file lands late; it loads: the check turns green for that day
        write_csv(
            attentive_env / f"attentive_email_SMS_{day:%Y%m%d}.csv",
            NOTIFICATION_HEADER,
            [notification(ts=f"{day}T10:00:00Z")],
        )
        loaded = dg.materialize(
            build_source_assets(source),
            selection=[NOTIFICATIONS.asset_key],
            partition_key=key,
            instance=instance,
            resources={"attentive_sftp": files, "duckdb": DuckDBResource(database=warehouse)},
        )
        assert loaded.success
        green = [e for e in loaded.get_asset_check_evaluations() if e.check_name == ARRIVAL_CHECK]
        assert [(e.partition, e.passed) for e in green] == [(key, True)]
        assert green[0].metadata["late"].value is True  # it came after midnight
        assert _history(instance, NOTIFICATIONS.asset_key, key) == [True, False]


def _history(instance: dg.DagsterInstance, asset: dg.AssetKey, partition: str) -> list[bool]:
    """The check's stored results for ``partition``, newest first."""
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(asset, ARRIVAL_CHECK), limit=10
    )
    found = []
    for record in records:
        evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
        if evaluation.partition == partition:
            found.append(evaluation.passed)
    return found
